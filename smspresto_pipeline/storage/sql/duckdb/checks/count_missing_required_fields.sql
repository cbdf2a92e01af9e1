-- Messages of one day ($day) without a recipient or without a creation time (a creation time
-- the API sent that could not be read as one is NULL here too).
SELECT
    count_if(recipient IS NULL OR trim(recipient) = '') AS no_recipient,
    count_if(created_at IS NULL) AS no_created_at
FROM smspresto.messages
WHERE partition_date = $day;
