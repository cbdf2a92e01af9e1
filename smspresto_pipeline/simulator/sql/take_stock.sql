-- Bill a send; changes no row when the credit is insufficient.
UPDATE account SET stock = stock - :segments WHERE id = 1 AND stock >= :segments
