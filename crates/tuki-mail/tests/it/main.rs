//! The MIME corpus: each `tests/corpus/NAME.eml` is parsed and compared
//! with `NAME.json`, the result a person checked. To accept new results
//! after a deliberate change, run with `TUKI_BLESS=1` and review the diff.

mod corpus;
