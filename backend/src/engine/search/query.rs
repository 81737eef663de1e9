//! What a search box's text asks: the words to find (folded, see [`super::fold`]) and the
//! filters. Unknown `word:` forms are words like any other (a search for "re:" finds it).

use shared::{Nick, RoomName};

use super::fold::{fold, is_unspaced};

/// Most words one query looks for (the rest are ignored).
pub const MAX_TERMS: usize = 8;

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The words, folded; a message must contain every one: as a substring, but one or two
    /// Latin letters or digits only at the start of a word (see [`Kind`]).
    pub terms: Vec<String>,
    /// `from:NICK`: written by that nickname (lower case).
    pub from: Option<String>,
    /// `in:ROOM` or `in:@NICK`.
    pub place: Option<In>,
    /// `has:image`.
    pub image: bool,
    /// `before:DATE`: sent before that day began (ms since the epoch).
    pub before: Option<u64>,
    /// `after:DATE`: sent after that day ended (ms since the epoch).
    pub after: Option<u64>,
}

/// Where `in:` looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum In {
    /// A room.
    Room(RoomName),
    /// The direct conversation with this nickname (lower case).
    Direct(String),
}

/// How a term is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Three characters or more: the trigram index, as a substring.
    Long,
    /// One or two characters of unspaced script: a character or pair of the short index.
    Unspaced,
    /// One or two other characters: the start of a word of the short index.
    Prefix,
}

impl Query {
    /// Reads `text`; dates are days at `utc_offset` minutes east of UTC. A filter that does
    /// not parse (a bad date, a bad room name) is an error naming it.
    pub fn parse(text: &str, utc_offset: i32) -> Result<Self, String> {
        let mut query = Query::default();
        for word in words(text) {
            let (key, value) = match word.split_once(':') {
                Some((key, value)) if !value.is_empty() => (key.to_ascii_lowercase(), value),
                _ => ("".to_owned(), word.as_str()),
            };
            match key.as_str() {
                "from" => {
                    let nick: Nick = value
                        .trim_start_matches('@')
                        .parse()
                        .map_err(|err| format!("from:{value} is not a nickname ({err})"))?;
                    query.from = Some(nick.key());
                }
                "in" => {
                    query.place = Some(match value.strip_prefix('@') {
                        Some(nick) => {
                            let nick: Nick = nick
                                .parse()
                                .map_err(|err| format!("in:{value} is not a nickname ({err})"))?;
                            In::Direct(nick.key())
                        }
                        None => In::Room(
                            value
                                .trim_start_matches('#')
                                .parse()
                                .map_err(|err| format!("in:{value} is not a room ({err})"))?,
                        ),
                    });
                }
                "has" if value.eq_ignore_ascii_case("image") => query.image = true,
                "before" => query.before = Some(day_start(value, utc_offset)?),
                "after" => {
                    query.after = Some(day_start(value, utc_offset)? + 24 * 3600 * 1000);
                }
                _ => {
                    let term = fold(&word);
                    let term = term.trim();
                    if !term.is_empty()
                        && term.chars().any(char::is_alphanumeric)
                        && query.terms.len() < MAX_TERMS
                        && !query.terms.iter().any(|t| t == term)
                    {
                        query.terms.push(term.to_owned());
                    }
                }
            }
        }
        Ok(query)
    }
}

/// How `term` is looked up (see [`Kind`]).
pub fn kind(term: &str) -> Kind {
    let mut chars = term.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (_, _, Some(_)) => Kind::Long,
        (Some(a), b, None) if is_unspaced(a) || b.is_some_and(is_unspaced) => Kind::Unspaced,
        _ => Kind::Prefix,
    }
}

/// The words of `text`: split at spaces, `"quoted words"` kept together (quotes dropped).
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// When `date` (`YYYY-MM-DD`) began at `utc_offset` minutes east of UTC, in ms since the
/// epoch.
fn day_start(date: &str, utc_offset: i32) -> Result<u64, String> {
    let bad = || format!("{date} is not a date (YYYY-MM-DD)");
    let mut parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // Days since the epoch of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = days * 86_400_000 - i64::from(utc_offset) * 60_000;
    Ok(ms.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_filters_and_quotes() {
        let query = Query::parse(
            r#"회의 Config "staging password" from:@Bob in:#ops has:image re: 회의"#,
            0,
        )
        .unwrap();
        assert_eq!(query.terms, ["회의", "config", "staging password", "re:"]);
        assert_eq!(query.from.as_deref(), Some("bob"));
        assert_eq!(query.place, Some(In::Room("ops".parse().unwrap())));
        assert!(query.image);
        let direct = Query::parse("in:@민지", 0).unwrap();
        assert_eq!(direct.place, Some(In::Direct("민지".to_owned())));
        assert!(Query::parse("in:#bad/name", 0).is_err());
    }

    #[test]
    fn dates_are_days_in_the_clients_time_zone() {
        let utc = Query::parse("before:2026-12-06 after:1970-01-01", 0).unwrap();
        assert_eq!(utc.before, Some(1_796_515_200_000));
        assert_eq!(utc.after, Some(86_400_000));
        // Seoul is 9 hours ahead: its day began 9 hours earlier.
        let seoul = Query::parse("before:2026-12-06", 540).unwrap();
        assert_eq!(seoul.before, Some(1_796_515_200_000 - 9 * 3_600_000));
        assert!(Query::parse("before:yesterday", 0).is_err());
        assert!(Query::parse("after:2026-13-01", 0).is_err());
    }

    #[test]
    fn short_terms_are_characters_pairs_or_word_starts() {
        assert_eq!(kind("회"), Kind::Unspaced);
        assert_eq!(kind("회의"), Kind::Unspaced);
        assert_eq!(kind("3시"), Kind::Unspaced);
        assert_eq!(kind("go"), Kind::Prefix);
        assert_eq!(kind("con"), Kind::Long);
        assert_eq!(kind("내일회"), Kind::Long);
    }
}
