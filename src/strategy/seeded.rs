//! `seeded_strategy!`, the struct, `Default`, `new` and `with_seed` of every strategy whose
//! state is its random stream (and, for the sampled ones, its choice count).

/// A strategy whose only state is the random stream for requests without an RNG: the
/// struct, `Default`, `new` and `with_seed`, with their docs.
macro_rules! seeded_strategy {
    (
        $(#[$doc:meta])*
        $name:ident,
        $(#[$new_doc:meta])*
        new;
        $(#[$seed_doc:meta])*
        with_seed
    ) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            stream: crate::rng::Stream,
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            $(#[$new_doc])*
            pub const fn new() -> Self {
                Self::with_seed(0)
            }

            $(#[$seed_doc])*
            pub const fn with_seed(seed: u64) -> Self {
                $name {
                    stream: crate::rng::Stream::new(seed),
                }
            }
        }
    };
    // the same, for a sampled strategy that draws `choices` candidates (default 2)
    (
        $(#[$doc:meta])*
        $name:ident with choices,
        $(#[$new_doc:meta])*
        new;
        $(#[$seed_doc:meta])*
        with_seed
    ) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            stream: crate::rng::Stream,
            /// Distinct weighted draws per pick, in `1..=MAX_CHOICES`.
            choices: u8,
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            $(#[$new_doc])*
            pub const fn new() -> Self {
                Self::with_seed(0)
            }

            $(#[$seed_doc])*
            pub const fn with_seed(seed: u64) -> Self {
                $name {
                    stream: crate::rng::Stream::new(seed),
                    choices: crate::strategy::DEFAULT_CHOICES,
                }
            }

            #[doc = concat!("`", stringify!($name), "` that takes the best of `choices` distinct")]
            /// weighted draws instead of two (Envoy's `choice_count`, HAProxy's
            /// `random(<draws>)`), with a stream seeded with `seed`. `choices` is in
            /// `1..=`[`MAX_CHOICES`](crate::strategy::MAX_CHOICES), else
            /// [`ConfigError::InvalidChoiceCount`](crate::ConfigError::InvalidChoiceCount).
            /// Two is [`with_seed`](Self::with_seed), pick for pick; one is one weighted
            /// draw, what [`Random`](crate::Random) picks; more pull the pick towards the
            /// least loaded of all, at one more draw (and comparison) each.
            pub const fn with_choices(
                choices: u8,
                seed: u64,
            ) -> Result<Self, crate::ConfigError> {
                if choices == 0 || choices > crate::strategy::MAX_CHOICES {
                    return Err(crate::ConfigError::InvalidChoiceCount);
                }
                Ok($name {
                    stream: crate::rng::Stream::new(seed),
                    choices,
                })
            }

            /// Distinct weighted draws per pick (2 unless built by `with_choices`).
            pub const fn choices(&self) -> u8 {
                self.choices
            }
        }
    };
}
