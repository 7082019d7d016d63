-- Search documents get a range of keys per kind (tuki_store::search::DocKind):
-- tickets below 2^40 * 8, people and organisations from there, knowledge
-- articles from 2^41 * 8, so a search of one kind reads only its range.
-- Keys stay `(base + id) * 8 + kind`. Tickets keep theirs (base 0).
UPDATE search_docs SET doc = (1099511627776 + doc / 8) * 8 + doc % 8
    WHERE doc % 8 IN (3, 4) AND doc < 8796093022208;
UPDATE search_docs SET doc = (2199023255552 + doc / 8) * 8 + 5
    WHERE doc % 8 = 5 AND doc < 8796093022208;
