/// Declares a closed set of names stored as text: the enum, its serde and
/// OpenAPI form (snake_case), and `as_str`/`parse` for the database and URLs.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        // Each name is its variant's in snake_case, so this says the same as
        // the per-variant renames below; the OpenAPI derive reads this one
        // (a name passed into a macro is not a string literal to it, so the
        // document listed `WalkIn` where Tuki sends and takes `walk_in`).
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored or typed name; `field` names the input for the error.
            pub fn parse(field: &str, raw: &str) -> Result<Self, $crate::ValidationError> {
                match raw.trim() {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::ValidationError::new(
                        field,
                        format!("must be one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
