-- Run on a connection once the warehouse is attached, before a user's query: no file or URL
-- can be read or written from now on (the attached file and the temporary directory aside), no
-- database attached, no extension installed or loaded; then no setting can change, these two
-- included. Neither can be undone on this connection.
SET enable_external_access = false;
SET lock_configuration = true;
