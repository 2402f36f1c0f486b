//! Outbound clients, one per vendor, over one counted HTTP helper ([`http::Http`]). Every base URL comes from
//! configuration, with the vendor's real URL as default.

pub mod crm;
pub mod gmail;
pub mod google_oauth;
pub mod http;
pub mod livechat;
pub mod llm;
pub mod meta;
pub mod twilio;
pub mod zapier;
