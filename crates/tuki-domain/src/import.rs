//! Reading a spreadsheet's CSV export for import: UTF-8 (with or without a
//! byte-order mark) or Windows-1252 (what Excel in Finland saves as "CSV"),
//! semicolons or commas (whichever the header line uses more of), a header
//! row naming the columns in English or Finnish. What cannot be read is a
//! [`RowError`] naming the row (as a spreadsheet numbers it: the header is
//! row 1), the column and why.

use serde::Serialize;

/// One mistake of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// The spreadsheet's row number (the header is row 1).
    pub row: usize,
    /// The column's header as written in the file; empty for the row as a
    /// whole.
    pub column: String,
    pub message: String,
}

/// A file read into rows of text.
#[derive(Debug, Clone)]
pub struct Table {
    pub encoding: &'static str,
    pub delimiter: char,
    pub headers: Vec<String>,
    /// (row number, cells), empty rows left out.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// The position of the column whose header is one of `names` (case
    /// and surrounding spaces do not matter).
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    }
}

/// The file's text: UTF-8 when it is valid UTF-8 (a BOM dropped), else
/// Windows-1252.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "UTF-8"),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (text.into_owned(), "Windows-1252")
        }
    }
}

/// Reads a CSV file's rows. A file without a header, or whose rows cannot
/// be parsed as CSV (an unclosed quote), is refused with the row.
pub fn read_table(bytes: &[u8]) -> Result<Table, RowError> {
    let (text, encoding) = decode(bytes);
    let first = text.lines().next().unwrap_or("");
    let delimiter =
        if first.matches(';').count() >= first.matches(',').count() && first.contains(';') {
            ';'
        } else {
            ','
        };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter as u8)
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| RowError {
            row: 1,
            column: String::new(),
            message: format!("cannot read the header row: {e}"),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(RowError {
            row: 1,
            column: String::new(),
            message: "the file has no header row".into(),
        });
    }
    // Rows as a spreadsheet numbers them: every line is a row (blank ones
    // too) except the line breaks inside quoted cells. The reader's own line
    // count does not follow blank lines of CRLF files, so rows are counted
    // here from where each record ends.
    let mut rows = Vec::new();
    let bytes_of_text = text.as_bytes();
    let (mut seen, mut newlines, mut quoted) = (0usize, 0usize, 0usize);
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| RowError {
            row: newlines - quoted + 2,
            column: String::new(),
            message: format!("cannot read the row: {e}"),
        })?;
        if !more {
            break;
        }
        let end = (reader.position().byte() as usize).min(bytes_of_text.len());
        newlines += bytes_of_text[seen..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        seen = end;
        quoted += record
            .iter()
            .map(|c| c.matches('\n').count())
            .sum::<usize>();
        let ends_with_newline = end > 0 && bytes_of_text[end - 1] == b'\n';
        let row = newlines - quoted + usize::from(!ends_with_newline);
        if record.iter().all(|c| c.is_empty()) {
            continue;
        }
        rows.push((row, record.iter().map(str::to_string).collect()));
    }
    Ok(Table {
        encoding,
        delimiter,
        headers,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finnish_excel_files_and_utf8_files_read_alike() {
        // "Sarjanumero;Tuote;Ostopäivä" in Windows-1252, as Excel saves it.
        let mut cp1252 =
            b"Sarjanumero;Tuote;Ostop\xe4iv\xe4\r\nWM-1;Pesukone \xc4;12.3.2026\r\n\r\n".to_vec();
        cp1252.extend_from_slice(b"WM-2;\"Kuivain; iso\";1.4.2026\r\n");
        let t = read_table(&cp1252).unwrap();
        assert_eq!((t.encoding, t.delimiter), ("Windows-1252", ';'));
        assert_eq!(t.headers, ["Sarjanumero", "Tuote", "Ostopäivä"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.rows[0],
            (
                2,
                vec!["WM-1".into(), "Pesukone Ä".into(), "12.3.2026".into()]
            )
        );
        assert_eq!(t.rows[1].0, 4);
        let blank = read_table(b"a;b\r\n1;2\r\n\r\n3;4\n\n5;\"x\ny\"\n6;7\n").unwrap();
        // A line break inside a quoted cell is not a row of its own.
        assert_eq!(
            blank.rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            [2, 4, 6, 7]
        );
        assert_eq!(t.rows[1].1[1], "Kuivain; iso");
        assert_eq!(t.column(&["serial", "sarjanumero"]), Some(0));

        let utf8 = "\u{feff}serial,product\nWM-3,Kuivain\n";
        let t = read_table(utf8.as_bytes()).unwrap();
        assert_eq!((t.encoding, t.delimiter), ("UTF-8", ','));
        assert_eq!(
            t.rows,
            [(2, vec!["WM-3".to_string(), "Kuivain".to_string()])]
        );
    }

    #[test]
    fn a_broken_file_names_its_row() {
        let e = read_table(b"").unwrap_err();
        assert_eq!(e.row, 1);
    }
}
