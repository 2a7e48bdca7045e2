//! Enums stored as numbers: `stored_enum!` writes their `ALL`, their
//! `from_i64` (the way back from the database) and, given each variant's
//! text, their `name`.

/// Declares a fieldless enum stored as a number, with `ALL` (every variant,
/// in order) and `from_i64` (`None` for a number that is none of them);
/// with `=> "TEXT"` after every variant, also `name()`. The enum's own
/// attributes (derives, docs) are written as usual.
///
/// ```
/// numhub_runtime::stored_enum! {
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Light {
///         Red = 1 => "RED",
///         Green = 2 => "GREEN",
///     }
/// }
/// assert_eq!(Light::from_i64(2), Some(Light::Green));
/// assert_eq!(Light::from_i64(3), None);
/// assert_eq!(Light::ALL.map(Light::name), ["RED", "GREEN"]);
/// ```
#[macro_export]
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $value:literal => $text:literal),+ $(,)?
        }
    ) => {
        $crate::stored_enum! {
            $(#[$meta])*
            $vis enum $name { $($(#[$variant_meta])* $variant = $value),+ }
        }

        impl $name {
            /// Its name, as clients and logs read it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $value:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$variant_meta])* $variant = $value),+
        }

        impl $name {
            /// Every variant, in order.
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            /// The variant stored as `value`, if any.
            pub fn from_i64(value: i64) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
