//! The string formats a field may declare (`#[validate(email)]`, …): what each accepts, checked by hand without
//! dependencies. The TypeScript client (`clients/typescript/src/validate.js`) mirrors these checks line by line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A well-known string format a field may declare. Each is reported with its own code,
/// `invalid.string.<name>` (e.g. `invalid.string.dateTime`), and the message "Value must be a valid …".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An email address `local@domain`: a dot-atom local part (at most 64 characters) and a domain of at least two
    /// dot-separated labels (letters, digits, inner hyphens; at most 63 characters each), ASCII only, at most 254
    /// characters in all. No quoted local parts, comments or IP-literal domains.
    Email,
    /// An absolute URL with an authority: `scheme://host[:port][/path][?query][#fragment]`, the scheme a letter
    /// followed by letters, digits, `+`, `-` or `.`, a non-empty host, a port of at most 5 digits (up to 65535),
    /// and no whitespace or control characters anywhere.
    Url,
    /// A UUID in its hyphenated form (`8-4-4-4-12` hexadecimal digits, either case, any version).
    Uuid,
    /// A calendar date `YYYY-MM-DD` that exists (leap years included).
    Date,
    /// An RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` and `Z` in either case, seconds up
    /// to 60 (a leap second).
    DateTime,
    /// An IPv4 or IPv6 address, as [`IpAddr`]'s parser reads it.
    Ip,
    /// An IPv4 address in dotted-decimal form (no leading zeros), as [`Ipv4Addr`]'s parser reads it.
    Ipv4,
    /// An IPv6 address (`::` compression and a trailing dotted IPv4 allowed; no zone, no brackets), as
    /// [`Ipv6Addr`]'s parser reads it.
    Ipv6,
}

impl Format {
    /// The format's name on the wire and in descriptors: `email`, `url`, `uuid`, `date`, `dateTime`, `ip`,
    /// `ipv4`, `ipv6`. Its issue code is `invalid.string.<name>`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Email => "email",
            Format::Url => "url",
            Format::Uuid => "uuid",
            Format::Date => "date",
            Format::DateTime => "dateTime",
            Format::Ip => "ip",
            Format::Ipv4 => "ipv4",
            Format::Ipv6 => "ipv6",
        }
    }

    /// Every format, in declaration order.
    pub const ALL: [Format; 8] = [
        Format::Email,
        Format::Url,
        Format::Uuid,
        Format::Date,
        Format::DateTime,
        Format::Ip,
        Format::Ipv4,
        Format::Ipv6,
    ];

    /// The format [`Format::name`] names.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }

    /// Whether `s` is in this format.
    pub fn matches(self, s: &str) -> bool {
        match self {
            Format::Email => is_email(s),
            Format::Url => is_url(s),
            Format::Uuid => is_uuid(s),
            Format::Date => is_date(s),
            Format::DateTime => is_date_time(s),
            Format::Ip => s.parse::<IpAddr>().is_ok(),
            Format::Ipv4 => s.parse::<Ipv4Addr>().is_ok(),
            Format::Ipv6 => s.parse::<Ipv6Addr>().is_ok(),
        }
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    const ATEXT: &str = "!#$%&'*+/=?^_`{|}~-";
    let local_ok = (1..=64).contains(&local.len())
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| c.is_ascii_alphanumeric() || ATEXT.contains(c)));
    s.len() <= 254 && local_ok && is_domain(domain)
}

/// At least two labels of letters, digits and inner hyphens (1 to 63 characters each).
fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_url(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = match host_port.rsplit_once(':') {
        // A bracketed IPv6 host keeps its colons.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (host_port, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    scheme_ok && !host.is_empty() && port_ok
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `n` ASCII digits as a number.
fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
}

fn is_date(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(year), Some(month), Some(day), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (digits(year, 4), digits(month, 2), digits(day, 2)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_date_time(s: &str) -> bool {
    let Some((date, time)) = s.split_once(['T', 't']) else {
        return false;
    };
    // The offset: `Z`, or a sign followed by `HH:MM`.
    let (time, offset) = if let Some(time) = time.strip_suffix(['Z', 'z']) {
        (time, None)
    } else if let Some(at) = time.rfind(['+', '-']) {
        (&time[..at], Some(&time[at + 1..]))
    } else {
        return false;
    };
    let offset_ok = offset.is_none_or(|o| is_hh_mm(o, 23));
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let fraction_ok = fraction.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    let clock_ok = clock.len() == 8
        && clock.is_ascii()
        && is_hh_mm(&clock[..5], 23)
        && clock.as_bytes()[5] == b':'
        && digits(&clock[6..], 2).is_some_and(|sec| sec <= 60);
    is_date(date) && clock_ok && fraction_ok && offset_ok
}

/// `HH:MM` with hours up to `max_hour`.
fn is_hh_mm(s: &str, max_hour: u32) -> bool {
    s.len() == 5
        && s.is_ascii()
        && s.as_bytes()[2] == b':'
        && digits(&s[..2], 2).is_some_and(|h| h <= max_hour)
        && digits(&s[3..], 2).is_some_and(|m| m <= 59)
}

#[cfg(test)]
mod tests {
    use super::Format::{self, *};

    fn check(format: Format, good: &[&str], bad: &[&str]) {
        for s in good {
            assert!(format.matches(s), "{format:?} must accept {s:?}");
        }
        for s in bad {
            assert!(!format.matches(s), "{format:?} must reject {s:?}");
        }
    }

    #[test]
    fn email() {
        let long_label = format!("a@{}.com", "x".repeat(64));
        let long_local = format!("{}@example.com", "x".repeat(65));
        check(
            Email,
            &[
                "a@b.co",
                "first.last+tag@sub.example.org",
                "o'neil_x-y@ex-ample.io",
                "1@2.3",
            ],
            &[
                "",
                "plain",
                "@example.com",
                "a@",
                "a@localhost",
                "a..b@example.com",
                ".a@example.com",
                "a.@example.com",
                "a@-example.com",
                "a@example-.com",
                "a@exa mple.com",
                "a b@example.com",
                "é@example.com",
                "a@example..com",
                "a@@example.com",
                &long_label,
                &long_local,
            ],
        );
    }

    #[test]
    fn url() {
        check(
            Url,
            &[
                "https://example.com",
                "http://localhost:8080/path?q=1#frag",
                "ws://user:pw@host/",
                "git+ssh://host.example/x",
                "http://[::1]:80/",
                "http://[::1]/",
                "https://example.com:65535",
            ],
            &[
                "",
                "example.com",
                "https//example.com",
                "https://",
                "https:///path",
                "1http://x",
                "http://a b",
                "http://host:port",
                "http://host:65536",
                "http://host:",
                "mailto:a@b.co",
                "http://x\n",
                "ht_tp://x",
            ],
        );
    }

    #[test]
    fn uuid() {
        check(
            Uuid,
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "00000000-0000-0000-0000-000000000000",
                "ABCDEF01-2345-6789-ABCD-EF0123456789",
            ],
            &[
                "",
                "123e4567e89b12d3a456426614174000",
                "123e4567-e89b-12d3-a456-42661417400",
                "123e4567-e89b-12d3-a456-4266141740000",
                "g23e4567-e89b-12d3-a456-426614174000",
                "{123e4567-e89b-12d3-a456-426614174000}",
                "123e4567-e89b-12d3-a456-426614174000-",
            ],
        );
    }

    #[test]
    fn date() {
        check(
            Date,
            &["2024-02-29", "2000-02-29", "1999-12-31", "0001-01-01"],
            &[
                "",
                "2023-02-29",
                "1900-02-29",
                "2024-13-01",
                "2024-00-10",
                "2024-04-31",
                "2024-1-01",
                "24-01-01",
                "2024-01-01T00:00:00Z",
                "2024/01/01",
                "2024-01-00",
            ],
        );
    }

    #[test]
    fn date_time() {
        check(
            DateTime,
            &[
                "2024-02-29T23:59:60Z",
                "2024-01-01t00:00:00z",
                "2024-01-01T12:30:00.123456+05:30",
                "2024-01-01T12:30:00-00:00",
            ],
            &[
                "",
                "2024-01-01",
                "2024-01-01T24:00:00Z",
                "2024-01-01T12:60:00Z",
                "2024-01-01T12:00:61Z",
                "2024-01-01T12:00:00",
                "2024-01-01T12:00Z",
                "2024-01-01T12:00:00.Z",
                "2024-01-01T12:00:00+5:30",
                "2024-01-01T12:00:00+24:00",
                "2024-02-30T12:00:00Z",
                "2024-01-01 12:00:00Z",
                "2024-01-01T12:00:00+05:60",
                "2024-01-01T1é:00:0Z",
                "2024-01-01T12:00:00+0é:0",
                "2024-01-01Té2:00:0Z",
            ],
        );
    }

    #[test]
    fn ip() {
        let v4 = ["127.0.0.1", "0.0.0.0", "255.255.255.255"];
        let v6 = [
            "::",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
            "1:2:3:4:5:6:7:8",
            "FE80::1",
        ];
        let bad = [
            "",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "[::1]",
            "fe80::1%eth0",
            " 1.2.3.4",
            "12345::",
        ];
        check(Ip, &[&v4[..], &v6[..]].concat(), &bad);
        check(Ipv4, &v4, &[&bad[..], &v6[..]].concat());
        check(Ipv6, &v6, &[&bad[..], &v4[..]].concat());
        assert_eq!(DateTime.name(), "dateTime");
    }
}
