//! Markdown of knowledge articles as safe HTML: CommonMark with tables and
//! strike-through (pulldown-cmark), raw HTML in the text shown as text, and
//! the result passed through ammonia, which keeps only harmless tags and
//! attributes and links with `http`, `https` and `mailto` (no `javascript:`),
//! opened without a referrer. Images load only from Tuki itself (the page's
//! Content-Security-Policy), so an article cannot track its readers.

use pulldown_cmark::{html, Event, Options, Parser};

/// `text` (Markdown) as HTML that is safe to put into a page unescaped.
pub fn to_html(text: &str) -> String {
    render(text, None)
}

/// [`to_html`] for a page on another website (the help widget): links and
/// images relative to Tuki (an article's own files) made absolute on `base`.
pub fn to_html_on(text: &str, base: &str) -> String {
    render(text, ammonia::Url::parse(base).ok())
}

fn render(text: &str, base: Option<ammonia::Url>) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |event| match event {
            // Raw HTML written into an article is shown, not obeyed.
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        },
    );
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, parser);
    let mut cleaner = ammonia::Builder::default();
    cleaner
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"));
    if let Some(base) = base {
        cleaner.url_relative(ammonia::UrlRelative::RewriteWithBase(base));
    }
    cleaner.clean(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::{to_html, to_html_on};

    #[test]
    fn markdown_becomes_html() {
        let html = to_html("1. Open the **rear** door\n2. Remove the sheet\n\n`E15`");
        assert!(html.contains("<ol>"), "{html}");
        assert!(html.contains("<strong>rear</strong>"), "{html}");
        assert!(html.contains("<code>E15</code>"), "{html}");
    }

    #[test]
    fn nothing_harmful_survives() {
        for evil in [
            "<script>alert(1)</script>",
            "[click](javascript:alert(1))",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "![x](javascript:alert(1))",
        ] {
            let html = to_html(evil);
            // Written HTML may stay as visible text, never as markup: no
            // tag of the result holds a script, a handler or a script URL.
            let tags = html
                .split('<')
                .skip(1)
                .map(|t| t.split('>').next().unwrap_or(""));
            for tag in tags {
                assert!(!tag.starts_with("script"), "{evil} → {html}");
                assert!(!tag.contains("onerror"), "{evil} → {html}");
                assert!(!tag.contains("javascript:"), "{evil} → {html}");
            }
        }
        let image = to_html_on(
            "![fault](/knowledge/files/7/e15.png)",
            "https://desk.example",
        );
        assert!(
            image.contains("src=\"https://desk.example/knowledge/files/7/e15.png\""),
            "{image}"
        );
        let link = to_html("[manual](https://example.com/manual.pdf)");
        assert!(
            link.contains("href=\"https://example.com/manual.pdf\""),
            "{link}"
        );
        assert!(
            link.contains("rel=\"noopener noreferrer nofollow\""),
            "{link}"
        );
    }
}
