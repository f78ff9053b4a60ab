//! Logs through `tracing` with the `tracing` feature (which also turns on
//! the core's: connection, subflow and path-manager spans and events);
//! without it the macro expands to nothing.

/// `tracing::event!` with the feature; nothing without it.
macro_rules! log_event {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        {
            ::tracing::event!($($arg)+);
        }
    }};
}

pub(crate) use log_event;
