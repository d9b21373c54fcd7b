//! Everything the userspace server answers from, swapped as a whole: a query sees one zone
//! set, one set of client views and one answer table, never parts of two.

use std::sync::Arc;

use super::{AnswerTable, Views, Zones};

pub struct Served {
    pub zones: Arc<Zones>,
    pub views: Arc<Views>,
    pub table: AnswerTable,
}
