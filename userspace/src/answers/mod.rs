//! From policy decisions to answers: the answer table both paths serve from, the client views
//! it is keyed by, and the controller that rebuilds the table when site states change and
//! mirrors it into the XDP answer map.

mod controller;
pub mod failover_signing;
mod rendered;
mod rewrites;
mod served;
mod stats;
mod table;
mod timeline;
mod view_index;
mod views;
mod zones;

pub use controller::{AnswerController, SavedAnswers};
pub use rendered::{Rendered, RenderedAnswers, render_records};
pub use rewrites::RewriteCounters;
pub use served::Served;
pub use stats::{AnswerStats, ServiceAnswer};
pub use table::{AnswerKey, AnswerSet, AnswerTable, address_slot, wire_name};
pub use timeline::{Change, Event, SiteCondition, Timeline, TimelineSnapshot, WINDOW as TIMELINE_WINDOW};
pub use views::Views;
pub use zones::{Zone, Zones};
