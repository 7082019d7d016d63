-- Knowledge articles (tuki_store::knowledge). Translations share a family:
-- the id of the first article written, one article per language in it.
-- The text columns hold the current revision; every revision is also a
-- row of kb_revisions, so its history and diffs need no other table.
-- Products are tags joined by commas (a tag holds no comma).
CREATE TABLE kb_articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    family_id BIGINT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('fi', 'en')),
    state TEXT NOT NULL CHECK (state IN ('draft', 'published', 'archived')),
    visibility TEXT NOT NULL CHECK (visibility IN ('internal', 'public')),
    title TEXT NOT NULL,
    symptom TEXT NOT NULL,
    cause TEXT NOT NULL,
    solution TEXT NOT NULL,
    products TEXT NOT NULL,
    category TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    review_by BIGINT,
    -- When the owner was last reminded of an overdue review.
    reminded_at BIGINT,
    revision BIGINT NOT NULL,
    -- The solved ticket it was made from, if any.
    source_ticket_id BIGINT REFERENCES tickets (id),
    views BIGINT NOT NULL DEFAULT 0,
    uses BIGINT NOT NULL DEFAULT 0,
    helpful BIGINT NOT NULL DEFAULT 0,
    not_helpful BIGINT NOT NULL DEFAULT 0,
    deflections BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT,
    UNIQUE (family_id, language)
);
CREATE INDEX kb_articles_review ON kb_articles (state, review_by);
CREATE INDEX kb_articles_updated ON kb_articles (updated_at);

CREATE TABLE kb_revisions (
    article_id BIGINT NOT NULL REFERENCES kb_articles (id),
    revision BIGINT NOT NULL,
    author_id BIGINT REFERENCES users (id),
    at BIGINT NOT NULL,
    -- What the author said of the change, or the state it moved to.
    note TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    symptom TEXT NOT NULL,
    cause TEXT NOT NULL,
    solution TEXT NOT NULL,
    products TEXT NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (article_id, revision)
);

-- Helpful or not: one vote per signed-in person (changed by voting again),
-- anonymous readers' votes one row each.
CREATE TABLE kb_feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id BIGINT NOT NULL REFERENCES kb_articles (id),
    user_id BIGINT REFERENCES users (id),
    helpful INTEGER NOT NULL,
    at BIGINT NOT NULL
);
CREATE UNIQUE INDEX kb_feedback_once ON kb_feedback (article_id, user_id) WHERE user_id IS NOT NULL;

-- An article's solution put into a ticket's reply.
CREATE TABLE kb_uses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id BIGINT NOT NULL REFERENCES kb_articles (id),
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    user_id BIGINT REFERENCES users (id),
    at BIGINT NOT NULL
);
CREATE INDEX kb_uses_article ON kb_uses (article_id);

-- "This solved my problem": a request that was not filed.
CREATE TABLE kb_deflections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id BIGINT NOT NULL REFERENCES kb_articles (id),
    user_id BIGINT REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('portal', 'widget')),
    at BIGINT NOT NULL
);
CREATE INDEX kb_deflections_at ON kb_deflections (at);

-- The desk's knowledge settings, one row: whether public articles are
-- read without signing in, and the websites allowed to embed the help
-- widget (origins, one a line).
CREATE TABLE kb_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    public_without_sign_in INTEGER NOT NULL,
    widget_origins TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO kb_settings (id, public_without_sign_in, widget_origins, updated_at) VALUES (1, FALSE, '', 0);
