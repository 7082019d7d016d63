-- Full-text search. One row a document: a ticket as staff see it, a ticket
-- as its customers see it (no internal notes), a person, an organisation.
-- `doc` is the thing's id * 8 + its kind (tuki_store::search::DocKind).
-- `title` and `body` hold the terms Tuki made of the text
-- (tuki_domain::search), folded and stemmed in Rust so that both engines
-- index the same words; the 'simple' configuration only splits them.
-- Title terms weigh more than body terms in the ranking.
CREATE TABLE search_docs (
    doc BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    terms tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')
    ) STORED
);
CREATE INDEX search_docs_terms ON search_docs USING GIN (terms);
