-- Email keeps its formatting: the sanitised HTML of an incoming message is
-- shown beside its text, with inline images (cid:) served from the files of
-- the article.
ALTER TABLE articles ADD COLUMN body_html TEXT;
ALTER TABLE attachments ADD COLUMN content_id TEXT;
