//! The status page, on the metrics listener: `/` is a page that polls the two others every
//! second; `/status.json` holds every service's current answer per view, every site with its
//! checks, the peers, the database sync and the timeline; `/timeline.svg` draws the timeline.

mod svg;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};
use serde::Serialize;

use super::{admin::Status, metrics::Sources, status};
use crate::{
    answers::{ServiceAnswer, TimelineSnapshot},
    sync::SyncStatus,
};

const PAGE: &str = include_str!("page.html");

pub fn routes() -> Router<Arc<Sources>> {
    Router::new()
        .route("/", get(Html(PAGE)))
        .route("/status.json", get(status_json))
        .route("/timeline.svg", get(timeline_svg))
}

/// Everything the page shows, in one document.
#[derive(Serialize)]
pub struct StatusPage {
    pub generated_at_ms: u64,
    #[serde(flatten)]
    pub daemon: Status,
    /// Per service, family and view.
    pub answers: Vec<AnswerRow>,
    /// Absent without `[sync]`.
    pub sync: Option<SyncView>,
    pub timeline: TimelineSnapshot,
}

#[derive(Serialize)]
pub struct AnswerRow {
    pub service: Arc<str>,
    pub family: &'static str,
    pub view: String,
    #[serde(flatten)]
    pub answer: ServiceAnswer,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum SyncView {
    Status(Box<SyncStatus>),
    Unreadable { error: String },
}

async fn status_json(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    let now_ms = crate::sync::wall_now_ms() as u64;
    let answers = (sources.answers.snapshot().into_iter())
        .map(|(key, answer)| AnswerRow {
            family: key.family.record_type(),
            view: key.view.as_deref().unwrap_or("default").to_string(),
            service: key.service,
            answer,
        })
        .collect();
    let sync = match sources.reloadable.sync.load_full() {
        Some(node) => Some(match node.status().await {
            Ok(status) => SyncView::Status(Box::new(status)),
            Err(e) => SyncView::Unreadable { error: e.to_string() },
        }),
        None => None,
    };
    let page = StatusPage {
        generated_at_ms: now_ms,
        daemon: status::current(&sources),
        answers,
        sync,
        timeline: sources.timeline.snapshot(now_ms),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(page))
}

async fn timeline_svg(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    let now_ms = crate::sync::wall_now_ms() as u64;
    let body = svg::render(&sources.timeline.snapshot(now_ms));
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], body)
}
