-- Full-text search. One row a document: a ticket as staff see it, a ticket
-- as its customers see it (no internal notes), a person, an organisation.
-- `doc` is the thing's id * 8 + its kind (tuki_store::search::DocKind).
-- `title` and `body` hold the terms Tuki made of the text
-- (tuki_domain::search), folded and stemmed in Rust so that both engines
-- index the same words; FTS5 indexes them as an external-content table,
-- kept in step by the triggers below.
CREATE TABLE search_docs (
    doc INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE VIRTUAL TABLE search_fts USING fts5(
    title, body,
    content = 'search_docs', content_rowid = 'doc',
    tokenize = 'ascii', detail = 'column'
);

CREATE TRIGGER search_docs_insert AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, title, body) VALUES (new.doc, new.title, new.body);
END;
CREATE TRIGGER search_docs_delete AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', old.doc, old.title, old.body);
END;
CREATE TRIGGER search_docs_update AFTER UPDATE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', old.doc, old.title, old.body);
    INSERT INTO search_fts (rowid, title, body) VALUES (new.doc, new.title, new.body);
END;
