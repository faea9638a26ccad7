//! Host action commands: `//action:pause` and the like, the firmware asking the host to act or
//! telling it what it did.

/// A host action command the firmware sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `//action:pause`: the firmware asks the host to pause.
    Pause,
    /// `//action:paused`: the firmware paused by itself.
    Paused,
    /// `//action:resume`: the firmware asks the host to resume.
    Resume,
    /// `//action:resumed`: the firmware resumed by itself.
    Resumed,
    /// `//action:cancel`: the firmware asks the host to cancel the print.
    Cancel,
    /// `//action:start`: the firmware asks the host to start the selected print.
    Start,
    /// `//action:kill`: the firmware was killed.
    Kill,
    /// `//action:prompt_begin …` and the other `prompt_*` actions, with their text.
    Prompt(String),
    /// `//action:notification …`, with its text.
    Notification(String),
    /// Any other action, verbatim after `action:`.
    Other(String),
}

/// `//action:…` or `// action:…`; `None` for other `//` lines (Klipper info).
pub(super) fn parse_action(line: &str) -> Option<Action> {
    let rest = line.strip_prefix("//")?.trim_start();
    let rest = rest.strip_prefix("action:")?.trim();
    let (word, argument) = match rest.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((word, argument)) => (word, argument.trim()),
        None => (rest, ""),
    };
    Some(match word {
        "pause" => Action::Pause,
        "paused" => Action::Paused,
        "resume" => Action::Resume,
        "resumed" => Action::Resumed,
        "cancel" => Action::Cancel,
        "start" => Action::Start,
        "kill" => Action::Kill,
        // The whole rest, so the engine can tell prompt_begin from prompt_choice.
        _ if word.starts_with("prompt_") => Action::Prompt(rest.to_owned()),
        "notification" => Action::Notification(argument.to_owned()),
        _ => Action::Other(rest.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reply::{parse, Reply};

    #[test]
    fn actions_with_and_without_space() {
        for (word, action) in [
            ("pause", Action::Pause),
            ("paused", Action::Paused),
            ("resume", Action::Resume),
            ("resumed", Action::Resumed),
            ("cancel", Action::Cancel),
            ("start", Action::Start),
            ("kill", Action::Kill),
        ] {
            assert_eq!(
                parse(&format!("//action:{word}")),
                Reply::Action(action.clone())
            );
            assert_eq!(parse(&format!("// action:{word}\r")), Reply::Action(action));
        }
    }

    #[test]
    fn prompt_notification_and_other_actions() {
        assert_eq!(
            parse("//action:prompt_begin Filament runout"),
            Reply::Action(Action::Prompt("prompt_begin Filament runout".into()))
        );
        assert_eq!(
            parse("// action:prompt_choice Continue"),
            Reply::Action(Action::Prompt("prompt_choice Continue".into()))
        );
        assert_eq!(
            parse("//action:prompt_show"),
            Reply::Action(Action::Prompt("prompt_show".into()))
        );
        assert_eq!(
            parse("//action:prompt_end"),
            Reply::Action(Action::Prompt("prompt_end".into()))
        );
        assert_eq!(
            parse("//action:notification Heating done"),
            Reply::Action(Action::Notification("Heating done".into()))
        );
        assert_eq!(
            parse("//action:out_of_filament T0"),
            Reply::Action(Action::Other("out_of_filament T0".into()))
        );
    }
}
