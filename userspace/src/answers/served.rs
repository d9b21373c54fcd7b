//! Everything the userspace server answers from, swapped as a whole: a query sees one zone
//! set, one set of client views and one answer table, never parts of two.

use std::sync::Arc;

use super::{AnswerTable, RenderedAnswers, Views, Zones};

pub struct Served {
    pub zones: Arc<Zones>,
    pub views: Arc<Views>,
    pub table: AnswerTable,
    /// The table's records rendered for the fast path (see `RenderedAnswers`).
    pub rendered: RenderedAnswers,
}

impl Served {
    pub fn new(zones: Arc<Zones>, views: Arc<Views>, table: AnswerTable) -> Served {
        let rendered = RenderedAnswers::new(&table);
        Served { zones, views, table, rendered }
    }
}
