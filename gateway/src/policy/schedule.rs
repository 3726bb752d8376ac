//! Weekly windows ("Mon–Fri 09:00–18:00", "every day 22:00–06:00") evaluated in the
//! policy's explicit time zone, with jiff doing the calendar and DST arithmetic.

use jiff::{ZonedDateTime as Zoned, civil::Weekday};

#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    /// Indexed by `Weekday::to_monday_zero_offset()`: the window starts on that day.
    pub days: [bool; 7],
    /// Minutes after midnight, local time.
    pub from: u16,
    pub until: u16,
}

pub fn parse_day(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// `HH:MM` → minutes after midnight (`24:00` allowed as an end).
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (hs, ms) = s.split_once(':')?;
    if !(1..=2).contains(&hs.len()) || ms.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (hs.parse().ok()?, ms.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

impl Schedule {
    /// Whether the window is on at `now` (in the policy's zone).
    pub fn is_on(&self, now: &Zoned) -> bool {
        let minute = now.hour() as u16 * 60 + now.minute() as u16;
        let today = now.weekday().to_monday_zero_offset() as usize;
        let yesterday = (today + 6) % 7;
        if self.from < self.until {
            self.days[today] && minute >= self.from && minute < self.until
        } else {
            // Past midnight: the part before midnight belongs to a window starting today,
            // the part after to one that started yesterday.
            (self.days[today] && minute >= self.from)
                || (self.days[yesterday] && minute < self.until)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Zoned {
        format!("{s}[Europe/Berlin]").parse().unwrap()
    }

    fn weekdays(from: &str, until: &str) -> Schedule {
        let mut days = [false; 7];
        days[..5].iter_mut().for_each(|d| *d = true);
        Schedule {
            name: "t".into(),
            days,
            from: parse_hhmm(from).unwrap(),
            until: parse_hhmm(until).unwrap(),
        }
    }

    #[test]
    fn office_hours() {
        let s = weekdays("09:00", "18:00");
        assert!(s.is_on(&at("2026-11-26T09:00:00"))); // Thursday
        assert!(s.is_on(&at("2026-11-26T17:59:59")));
        assert!(!s.is_on(&at("2026-11-26T18:00:00")));
        assert!(!s.is_on(&at("2026-11-26T08:59:59")));
        assert!(!s.is_on(&at("2026-11-28T10:00:00"))); // Saturday
    }

    #[test]
    fn overnight_windows_belong_to_their_start_day() {
        let s = weekdays("22:00", "06:00");
        assert!(s.is_on(&at("2026-11-27T23:00:00"))); // Friday night
        assert!(s.is_on(&at("2026-11-28T05:59:00"))); // Saturday morning, Friday's window
        assert!(!s.is_on(&at("2026-11-28T23:00:00"))); // Saturday night: no window
        assert!(!s.is_on(&at("2026-11-30T05:00:00"))); // Monday morning: Sunday had none
    }

    #[test]
    fn times_parse_strictly() {
        assert_eq!(parse_hhmm("09:30"), Some(570));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        for bad in ["9", "25:00", "09:60", "24:01", "aa:bb", "009:00"] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
        assert_eq!(parse_day("Fri"), Some(Weekday::Friday));
        assert_eq!(parse_day("fr"), None);
    }
}
