-- An agent's reply mail carries the reply's files: the article whose files
-- go with a mail (a public reply to the requester; a customer's reply or new
-- request to agents). The sender reads the files from the data folder when
-- it sends. NULL for mail without files (acknowledgements, notices).
ALTER TABLE outbox ADD COLUMN article_id BIGINT REFERENCES articles (id);
