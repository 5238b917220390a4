//! Diagnostics through `tracing` (the `tracing` feature): the event macros this crate uses.
//! Without the feature they compile to nothing, only borrowing their arguments in dead code so
//! that nothing goes unused.
//!
//! Only the field syntax used here is accepted: `name = value`, `name = %value`,
//! `name = ?value`, `%name`, `?name`, `name`, then a literal message with format arguments.

/// Forwards to `tracing::$level!` with the feature, else borrows the arguments in dead code.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ::tracing::$level!($($arg)+)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {{
        if false {
            $crate::trace::unused!($($arg)+);
        }
    }};
}

/// Borrows each value of an event's fields and message arguments.
#[cfg(not(feature = "tracing"))]
macro_rules! unused {
    () => {};
    ($message:literal $(, $arg:expr)* $(,)?) => {
        $(let _ = &$arg;)*
    };
    ($name:ident = % $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::trace::unused!($($rest)*);)?
    };
    ($name:ident = ? $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::trace::unused!($($rest)*);)?
    };
    ($name:ident = $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::trace::unused!($($rest)*);)?
    };
    (% $name:ident $(, $($rest:tt)*)?) => {
        let _ = &$name;
        $($crate::trace::unused!($($rest)*);)?
    };
    (? $name:ident $(, $($rest:tt)*)?) => {
        let _ = &$name;
        $($crate::trace::unused!($($rest)*);)?
    };
    ($name:ident $(, $($rest:tt)*)?) => {
        let _ = &$name;
        $($crate::trace::unused!($($rest)*);)?
    };
}

macro_rules! debug {
    ($($arg:tt)+) => { $crate::trace::event!(debug, $($arg)+) };
}
macro_rules! info {
    ($($arg:tt)+) => { $crate::trace::event!(info, $($arg)+) };
}
macro_rules! error {
    ($($arg:tt)+) => { $crate::trace::event!(error, $($arg)+) };
}

#[cfg(not(feature = "tracing"))]
pub(crate) use unused;
pub(crate) use {debug, error, event, info};
