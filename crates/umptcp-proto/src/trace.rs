//! Logging through `tracing`, with the `tracing` feature: a span per
//! connection (role, four-tuple, token), one per subflow inside it, and
//! events for what changes (every [`crate::MptcpEvent`], subflow resets
//! with their reason, path-manager actions, segments the endpoint
//! refuses). Without the feature every macro here expands to nothing and
//! a span is a zero-sized value: no code, no field, no cost.

/// A span (with the feature) or nothing.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// A span (with the feature) or nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug, Default)]
pub(crate) struct Span;

/// The span that is no span (for state made before its owner is known).
pub(crate) fn none() -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::Span::none()
    }
    #[cfg(not(feature = "tracing"))]
    {
        Span
    }
}

/// `tracing::event!` with the feature; nothing without it.
macro_rules! log_event {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        {
            ::tracing::event!($($arg)+);
        }
    }};
}

/// `tracing::span!` with the feature; the empty [`Span`] without it.
macro_rules! new_span {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        let span = ::tracing::span!($($arg)+);
        #[cfg(not(feature = "tracing"))]
        let span = $crate::trace::Span;
        span
    }};
}

pub(crate) use {log_event, new_span};
