//! Configuration from wrangler vars and secrets (`.dev.vars` locally; every name is documented in
//! `.dev.vars.example`). [`Config::parse`] is pure and host-tested; [`Config::from_env`] reads a Worker `Env`.
//!
//! Values that a feature needs but that are missing or invalid give a [`ConfigError`] naming the variable;
//! nothing here panics.

/// `AI_RESPONSE_MODE`: what the poll does with an AI reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiMode {
    /// Create a Gmail draft for a human to review (default).
    Draft,
    /// Send the reply at once.
    Auto,
    /// No AI replies.
    Off,
}

/// The env-configured Gmail mailbox (tenant `default`), with its OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailConfig {
    /// `GMAIL_CLIENT_ID`: the Google OAuth client id (type "Web application").
    pub client_id: String,
    /// `GMAIL_CLIENT_SECRET`: the OAuth client's secret.
    pub client_secret: String,
    /// `GMAIL_REFRESH_TOKEN`: an offline refresh token for scope `gmail.modify`, exchanged for access tokens
    /// (<https://developers.google.com/identity/protocols/oauth2/web-server#offline>).
    pub refresh_token: String,
    /// The mailbox's own address, lower-cased.
    pub address: String,
}

/// Everything the worker reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `GMAIL_API_BASE`, default `https://gmail.googleapis.com`, no trailing slash.
    pub gmail_api_base: String,
    /// `GOOGLE_TOKEN_URL`, default `https://oauth2.googleapis.com/token`.
    pub google_token_url: String,
    /// `None` when none of the Gmail variables is set; an error when only some are.
    pub gmail: Option<GmailConfig>,
    /// `GMAIL_QUERY`: extra Gmail search terms that restrict which inbox mail becomes tickets.
    pub gmail_query: Option<String>,
    /// `LLM_API_BASE`, OpenAI-compatible, default `https://api.openai.com/v1`, no trailing slash.
    pub llm_api_base: String,
    /// `LLM_API_KEY`; without it drafts come from per-category templates.
    pub llm_api_key: Option<String>,
    /// `LLM_MODEL`, default `gpt-4o-mini`.
    pub llm_model: String,
    /// `AI_RESPONSE_MODE`, default `draft`.
    pub ai_mode: AiMode,
    /// `JWT_SECRET`: HS256 key for staff tokens, at least 32 characters. Required by every `/api/v1` route.
    pub jwt_secret: Option<String>,
    /// `ADMIN_EMAIL` / `ADMIN_PASSWORD`: the owner created when tenant `default` has no staff yet.
    pub admin: Option<(String, String)>,
    /// `SUPPORT_NAME`: display name on outgoing mail, default `Customer Support`.
    pub support_name: String,
    /// `HTTP_TIMEOUT_MS`: most time one outbound call (Gmail, Google OAuth, LLM) may take, 100–120000 ms,
    /// default 20000; a timed-out call is retried like a 5xx.
    pub http_timeout_ms: u64,
    /// `POLL_MAX_MESSAGES`: most Gmail messages ingested per poll (1–500), default 50; the rest wait.
    pub poll_max_messages: usize,
    /// `POLL_MAX_DRAFTS`: most AI drafts generated per poll (0–50), default 8; each costs 2 subrequests (3 in auto mode) and about 2 D1 queries.
    pub poll_max_drafts: usize,
    /// `ALLOWED_ORIGINS`: comma-separated origins (`https://desk.example.com`) allowed, besides the worker's own,
    /// to make state-changing requests with the session cookie. Default: none.
    pub allowed_origins: Vec<String>,
    /// `TWILIO_API_BASE`, default `https://api.twilio.com`, no trailing slash.
    pub twilio_api_base: String,
    /// `PUBLIC_BASE_URL`: the worker's public origin as Twilio and Zapier call it (`https://desk.example.com`),
    /// used for webhook signatures and callback URLs; default: the origin of the incoming request.
    pub public_base_url: Option<String>,
    /// `CS_ENCRYPTION_KEY`: 32 bytes, base64; encrypts tenants' Twilio auth tokens and Zapier secrets at rest.
    pub cs_encryption_key: Option<[u8; 32]>,
    /// `META_GRAPH_API_BASE`, default `https://graph.facebook.com`, no trailing slash.
    pub meta_graph_api_base: String,
    /// `META_GRAPH_API_VERSION`, default `v21.0`.
    pub meta_graph_api_version: String,
    /// `CRM_TIMEOUT_MS` (100–60 000, default 8 000): the time a unified CRM request may spend on the vendor, retries
    /// included; then 504.
    pub crm_timeout_ms: u64,
    /// `STUN_URLS`: comma-separated STUN URLs for WebRTC, default `stun:stun.cloudflare.com:3478`.
    pub stun_urls: Vec<String>,
    /// `TURN_URLS`: comma-separated TURN URLs (`turn:turn.example.com:3478?transport=udp,turns:…:5349`); default none.
    pub turn_urls: Vec<String>,
    /// `TURN_SECRET` (secret): the shared secret of the TURN server's REST API credentials (coturn
    /// `static-auth-secret`); TURN is offered only with it.
    pub turn_secret: Option<String>,
    /// `TURN_TTL_SECONDS` (60–604 800, default 86 400): lifetime of TURN credentials.
    pub turn_ttl_seconds: i64,
}

/// A missing or invalid variable, by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or blank; the value is its name.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable is set but its value cannot be used.
    #[error("{name} is invalid: {why}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// Why the value was refused, in words.
        why: String,
    },
}

impl Config {
    /// Reads the configuration through `get` (name → value; blank values count as unset).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |n: &str| {
            get(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            let v = get(name).unwrap_or_else(|| default.to_string());
            if !(v.starts_with("https://") || v.starts_with("http://")) {
                return Err(ConfigError::Invalid {
                    name,
                    why: format!("{v:?} is not an http(s) URL"),
                });
            }
            Ok(v.trim_end_matches('/').to_string())
        };
        let number = |name: &'static str,
                      default: usize,
                      max: usize,
                      min: usize|
         -> Result<usize, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or(ConfigError::Invalid {
                        name,
                        why: format!("{v:?} is not a whole number from {min} to {max}"),
                    }),
            }
        };

        let gmail_vars = [
            "GMAIL_CLIENT_ID",
            "GMAIL_CLIENT_SECRET",
            "GMAIL_REFRESH_TOKEN",
            "GMAIL_ADDRESS",
        ];
        let gmail = if gmail_vars.iter().all(|n| get(n).is_none()) {
            None
        } else {
            let req = |n: &'static str| get(n).ok_or(ConfigError::Missing(n));
            let address = req("GMAIL_ADDRESS")?.to_lowercase();
            if !address.contains('@') {
                return Err(ConfigError::Invalid {
                    name: "GMAIL_ADDRESS",
                    why: "not an e-mail address".into(),
                });
            }
            Some(GmailConfig {
                client_id: req("GMAIL_CLIENT_ID")?,
                client_secret: req("GMAIL_CLIENT_SECRET")?,
                refresh_token: req("GMAIL_REFRESH_TOKEN")?,
                address,
            })
        };

        let ai_mode = match get("AI_RESPONSE_MODE")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("draft") => AiMode::Draft,
            Some("auto") => AiMode::Auto,
            Some("off") => AiMode::Off,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "AI_RESPONSE_MODE",
                    why: format!("{v:?} is not one of draft, auto, off"),
                })
            }
        };

        let jwt_secret = get("JWT_SECRET");
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                why: "must be at least 32 characters".into(),
            });
        }
        let admin = match (get("ADMIN_EMAIL"), get("ADMIN_PASSWORD")) {
            (Some(e), Some(p)) => {
                if p.len() < 8 {
                    return Err(ConfigError::Invalid {
                        name: "ADMIN_PASSWORD",
                        why: "must be at least 8 characters".into(),
                    });
                }
                Some((e.to_lowercase(), p))
            }
            (None, None) => None,
            (None, Some(_)) => return Err(ConfigError::Missing("ADMIN_EMAIL")),
            (Some(_), None) => return Err(ConfigError::Missing("ADMIN_PASSWORD")),
        };

        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect()
        };
        Ok(Config {
            gmail_api_base: url("GMAIL_API_BASE", "https://gmail.googleapis.com")?,
            google_token_url: url("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")?,
            gmail,
            gmail_query: get("GMAIL_QUERY"),
            llm_api_base: url("LLM_API_BASE", "https://api.openai.com/v1")?,
            llm_api_key: get("LLM_API_KEY"),
            llm_model: get("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
            ai_mode,
            jwt_secret,
            admin,
            support_name: get("SUPPORT_NAME").unwrap_or_else(|| "Customer Support".into()),
            http_timeout_ms: number("HTTP_TIMEOUT_MS", 20_000, 120_000, 100)? as u64,
            crm_timeout_ms: number("CRM_TIMEOUT_MS", 8_000, 60_000, 100)? as u64,
            poll_max_messages: number("POLL_MAX_MESSAGES", 50, 500, 1)?,
            poll_max_drafts: number("POLL_MAX_DRAFTS", 8, 50, 0)?,
            twilio_api_base: url("TWILIO_API_BASE", "https://api.twilio.com")?,
            meta_graph_api_base: url("META_GRAPH_API_BASE", "https://graph.facebook.com")?,
            meta_graph_api_version: get("META_GRAPH_API_VERSION").unwrap_or_else(|| "v21.0".into()),
            public_base_url: match get("PUBLIC_BASE_URL") {
                None => None,
                Some(_) => Some(url("PUBLIC_BASE_URL", "")?),
            },
            cs_encryption_key: match get("CS_ENCRYPTION_KEY") {
                None => None,
                Some(k) => {
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(k.trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or(ConfigError::Invalid {
                            name: "CS_ENCRYPTION_KEY",
                            why: "must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)"
                                .into(),
                        })?;
                    Some(bytes)
                }
            },
            stun_urls: list(
                get("STUN_URLS").unwrap_or_else(|| "stun:stun.cloudflare.com:3478".into()),
            ),
            turn_urls: get("TURN_URLS").map(list).unwrap_or_default(),
            turn_secret: get("TURN_SECRET"),
            turn_ttl_seconds: number("TURN_TTL_SECONDS", 86_400, 604_800, 60)? as i64,
            allowed_origins: get("ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Reads the configuration from the Worker's vars and secrets.
    pub fn from_env(env: &worker::Env) -> Result<Config, ConfigError> {
        Config::parse(|name| env.var(name).ok().map(|v| v.to_string()))
    }

    /// The JWT secret, or the error naming it.
    pub fn jwt_secret(&self) -> Result<&str, ConfigError> {
        self.jwt_secret
            .as_deref()
            .ok_or(ConfigError::Missing("JWT_SECRET"))
    }

    /// The Gmail mailbox, or `Missing("GMAIL_REFRESH_TOKEN")` when no Gmail variable is set.
    pub fn gmail(&self) -> Result<&GmailConfig, ConfigError> {
        self.gmail
            .as_ref()
            .ok_or(ConfigError::Missing("GMAIL_REFRESH_TOKEN"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Config::parse(|n| m.get(n).cloned())
    }

    #[test]
    fn defaults_are_the_vendors_real_urls() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.gmail_api_base, "https://gmail.googleapis.com");
        assert_eq!(c.google_token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(c.llm_api_base, "https://api.openai.com/v1");
        assert_eq!(c.ai_mode, AiMode::Draft);
        assert!(c.gmail.is_none());
        assert_eq!(c.gmail(), Err(ConfigError::Missing("GMAIL_REFRESH_TOKEN")));
        assert_eq!(c.jwt_secret(), Err(ConfigError::Missing("JWT_SECRET")));
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            parse(&[("GMAIL_ADDRESS", "a@b.c")]).unwrap_err(),
            ConfigError::Missing("GMAIL_CLIENT_ID")
        );
        let e = parse(&[("AI_RESPONSE_MODE", "yolo")]).unwrap_err();
        assert!(e.to_string().starts_with("AI_RESPONSE_MODE is invalid"));
        let e = parse(&[("JWT_SECRET", "short")]).unwrap_err();
        assert!(e.to_string().contains("JWT_SECRET"));
        let e = parse(&[("GMAIL_API_BASE", "ftp://x")]).unwrap_err();
        assert!(e.to_string().contains("GMAIL_API_BASE"));
        let e = parse(&[("POLL_MAX_MESSAGES", "0")]).unwrap_err();
        assert!(e.to_string().contains("POLL_MAX_MESSAGES"));
    }
}
