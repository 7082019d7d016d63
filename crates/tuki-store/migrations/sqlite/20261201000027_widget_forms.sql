-- The help widget's request forms: a single-use token per form shown, with
-- when it was shown, so that a request sent seconds after (a robot) or a
-- token used twice is caught (tuki_domain::knowledge::widget_form_verdict).
CREATE TABLE kb_widget_forms (
    token TEXT PRIMARY KEY,
    issued_at BIGINT NOT NULL
);
CREATE INDEX kb_widget_forms_issued ON kb_widget_forms (issued_at);
