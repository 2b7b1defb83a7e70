//! `plansConnection`: Relay cursor pagination over the same lists as `plans`. Paging forward and
//! backward, `pageInfo` at both ends, cursors that survive creates and deletes (also of their own
//! plan) without skipping or repeating, argument errors, complexity counted per page, and pages
//! cut from the cached list without a database query.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{
    AppOptions, Backend, TestApp, assert_no_errors, error_code, spawn_app, spawn_app_with,
};

backend_tests!(
    pages_forward_and_backward_with_page_info_at_both_ends,
    cursors_survive_creates_and_deletes_skipping_and_repeating_nothing,
    bad_page_arguments_are_refused,
    complexity_counts_the_page_not_the_list,
    a_cached_page_makes_no_database_load,
);

const PAGE: &str = "query Page($userId: Int, $type: ConnectionType, $first: Int, $after: String, $last: Int, $before: String) { plansConnection(userId: $userId, connectionType: $type, first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id userId connectionType } } nodes { id } } }";

/// One page as the client sees it.
#[derive(Debug)]
pub struct Page {
    pub ids: Vec<String>,
    pub cursors: Vec<String>,
    pub has_next: bool,
    pub has_previous: bool,
    pub start: Option<String>,
    pub end: Option<String>,
    pub total: u64,
}

pub async fn page_body(app: &TestApp, args: Value) -> Value {
    app.post_graphql_as(None, PAGE, args).await.1
}

/// A page that must succeed; checks the connection is consistent with itself (edges and nodes
/// agree, the cursors of pageInfo are those of the first and last edges).
pub async fn page(app: &TestApp, args: Value) -> Page {
    let body = page_body(app, args.clone()).await;
    assert_no_errors(&body);
    let connection = &body["data"]["plansConnection"];
    let edges = connection["edges"].as_array().expect("edges");
    let ids: Vec<String> = edges
        .iter()
        .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    let nodes: Vec<String> = connection["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, nodes, "{args}");
    let cursors: Vec<String> = edges
        .iter()
        .map(|edge| edge["cursor"].as_str().unwrap().to_owned())
        .collect();
    let info = &connection["pageInfo"];
    let start = info["startCursor"].as_str().map(str::to_owned);
    let end = info["endCursor"].as_str().map(str::to_owned);
    assert_eq!(start.as_ref(), cursors.first(), "{args}");
    assert_eq!(end.as_ref(), cursors.last(), "{args}");
    Page {
        ids,
        cursors,
        has_next: info["hasNextPage"].as_bool().unwrap(),
        has_previous: info["hasPreviousPage"].as_bool().unwrap(),
        start,
        end,
        total: connection["totalCount"].as_u64().unwrap(),
    }
}

async fn pages_forward_and_backward_with_page_info_at_both_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut mine = Vec::new();
    for i in 0..7 {
        mine.push(
            app.create_ok(1, ["HOTSPOT", "PPPOE"][i % 2], &format!("p{i}"))
                .await,
        );
        app.create_ok(2, "HOTSPOT", "other tenant").await;
    }
    assert_eq!(app.plan_ids(Some(1), None).await, mine);

    // Forward, 3 at a time: 3 + 3 + 1.
    let first = page(&app, json!({ "userId": 1, "first": 3 })).await;
    assert_eq!(first.ids, mine[0..3]);
    assert!(first.has_next && !first.has_previous);
    assert_eq!(first.total, 7);
    let second = page(&app, json!({ "userId": 1, "first": 3, "after": first.end })).await;
    assert_eq!(second.ids, mine[3..6]);
    assert!(second.has_next && second.has_previous);
    let third = page(
        &app,
        json!({ "userId": 1, "first": 3, "after": second.end }),
    )
    .await;
    assert_eq!(third.ids, mine[6..7]);
    assert!(!third.has_next && third.has_previous);
    let beyond = page(&app, json!({ "userId": 1, "first": 3, "after": third.end })).await;
    assert!(beyond.ids.is_empty() && beyond.start.is_none() && beyond.end.is_none());
    assert!(!beyond.has_next && beyond.has_previous);
    assert_eq!(beyond.total, 7);

    // Backward, 3 at a time from the end: 3 + 3 + 1.
    let last = page(&app, json!({ "userId": 1, "last": 3 })).await;
    assert_eq!(last.ids, mine[4..7]);
    assert!(last.has_previous && !last.has_next);
    let middle = page(
        &app,
        json!({ "userId": 1, "last": 3, "before": last.start }),
    )
    .await;
    assert_eq!(middle.ids, mine[1..4]);
    assert!(middle.has_previous && middle.has_next);
    let head = page(
        &app,
        json!({ "userId": 1, "last": 3, "before": middle.start }),
    )
    .await;
    assert_eq!(head.ids, mine[0..1]);
    assert!(!head.has_previous && head.has_next);

    // Between two cursors; both filters; the default page size (50) takes the whole list.
    let window = page(
        &app,
        json!({ "userId": 1, "first": 10, "after": first.start, "before": third.start }),
    )
    .await;
    assert_eq!(window.ids, mine[1..6]);
    let hotspot = page(&app, json!({ "userId": 1, "type": "HOTSPOT", "first": 2 })).await;
    assert_eq!(hotspot.ids, [mine[0].clone(), mine[2].clone()]);
    assert_eq!(hotspot.total, 4);
    let all = page(&app, json!({})).await;
    assert_eq!(all.ids, app.plan_ids(None, None).await);
    assert_eq!(
        (all.total, all.has_next, all.has_previous),
        (14, false, false)
    );
}

/// Pages forward through user 1's plans `size` at a time, calling `between` with the ids of each
/// page (but the last) before asking for the next; returns the ids served, in order.
async fn walk(app: &TestApp, size: u32, mut between: impl AsyncFnMut(&[String])) -> Vec<String> {
    let mut served: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = page(app, json!({ "userId": 1, "first": size, "after": after })).await;
        served.extend(page.ids.iter().cloned());
        if !page.has_next {
            return served;
        }
        after = page.end;
        between(&page.ids).await;
    }
}

fn numeric(id: &str) -> i64 {
    id.parse().unwrap()
}

async fn cursors_survive_creates_and_deletes_skipping_and_repeating_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut initial = Vec::new();
    for i in 0..15 {
        initial.push(app.create_ok(1, "HOTSPOT", &format!("p{i}")).await);
    }
    let cursors = page(&app, json!({ "userId": 1, "first": 15 }))
        .await
        .cursors;
    // Between pages: delete the plan the cursor points to, one already served and one not yet
    // served, and create one (it sorts after every existing plan).
    let mut deleted: Vec<String> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let served = walk(&app, 3, async |page: &[String]| {
        let cursor_plan = page.last().unwrap().clone();
        let live = app.plan_ids(Some(1), None).await;
        let not_yet = live
            .iter()
            .filter(|id| numeric(id) > numeric(&cursor_plan))
            .nth(1)
            .cloned();
        for id in [Some(cursor_plan), Some(page[0].clone()), not_yet]
            .into_iter()
            .flatten()
        {
            if !deleted.contains(&id) {
                assert_eq!(app.delete_plan(&id).await["data"]["deletePlan"], true);
                deleted.push(id);
            }
        }
        created.push(app.create_ok(1, "HOTSPOT", "created while paging").await);
    })
    .await;

    // Ascending: nothing was repeated, and no page went back.
    let ids: Vec<i64> = served.iter().map(|id| numeric(id)).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{served:?}");
    // Every plan that was not deleted (those there from the start and those created while
    // paging, which sort after every page read so far) was served: nothing skipped.
    let kept: Vec<&String> = initial
        .iter()
        .chain(&created)
        .filter(|id| !deleted.contains(id))
        .collect();
    for id in &kept {
        assert!(served.contains(id), "skipped {id}: {served:?}");
    }
    // And nothing else: only plans that existed when their page was read.
    for id in &served {
        assert!(initial.contains(id) || created.contains(id), "served {id}?");
    }
    assert!(
        deleted.len() >= 6 && created.len() >= 2,
        "the list did change"
    );

    // Both ways from the cursor of a deleted plan: the halves meet where it was.
    let gone = initial.iter().position(|id| deleted.contains(id)).unwrap();
    let cursor = &cursors[gone];
    let before = page(&app, json!({ "userId": 1, "last": 100, "before": cursor })).await;
    let after = page(&app, json!({ "userId": 1, "first": 100, "after": cursor })).await;
    assert!(
        before
            .ids
            .iter()
            .all(|id| numeric(id) < numeric(&initial[gone]))
    );
    assert!(
        after
            .ids
            .iter()
            .all(|id| numeric(id) > numeric(&initial[gone]))
    );
    let mut both = before.ids.clone();
    both.extend(after.ids);
    assert_eq!(both, app.plan_ids(Some(1), None).await);
}

async fn bad_page_arguments_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_ok(1, "HOTSPOT", "p").await;
    let valid = page(&app, json!({ "first": 1 })).await.start.unwrap();
    let cases = [
        (json!({ "first": 1, "last": 1 }), "last"),
        (json!({ "first": 0 }), "first"),
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "last": 0 }), "last"),
        (json!({ "last": 101 }), "last"),
        (json!({ "after": "not a cursor" }), "after"),
        (json!({ "after": id }), "after"),
        (json!({ "before": "dXNlcjox" }), "before"), // base64 of "user:1"
        (json!({ "before": format!("{valid}x") }), "before"),
        (json!({ "userId": 0 }), "userId"),
    ];
    for (args, field) in cases {
        let body = page_body(&app, args.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{args}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{args}");
        assert!(body["data"].is_null(), "{body}");
    }
    // The limits are inclusive.
    assert_eq!(page(&app, json!({ "first": 100 })).await.ids, [id]);
    assert_eq!(
        page(&app, json!({ "last": 100, "after": valid }))
            .await
            .ids
            .len(),
        0
    );
}

async fn complexity_counts_the_page_not_the_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let full = "edges { cursor node { id userId name connectionType priceCents durationMinutes createdAt } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount";
    // 1 + 100 x 8 (a cursor and seven fields per plan): within the default limit of 1000.
    let body = app
        .query(&format!("{{ plansConnection(first: 100) {{ {full} }} }}"))
        .await;
    assert_no_errors(&body);
    // The same with nodes too: 1 + 100 x 15.
    let both = format!(
        "{{ plansConnection(first: 100) {{ {full} nodes {{ id userId name connectionType priceCents durationMinutes createdAt }} }} }}"
    );
    let body = app.query(&both).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    // A smaller page of the same shape fits; so does the default page (50 x 15).
    assert_no_errors(&app.query(&both.replace("first: 100", "last: 60")).await);
    assert_eq!(
        error_code(&app.query(&both.replace("first: 100", "last: 70")).await),
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert_no_errors(&app.query(&both.replace("(first: 100)", "")).await);
    // Through variables as well.
    let (_, body) = app
        .post_graphql_as(
            None,
            &format!("query($n: Int) {{ plansConnection(first: $n) {{ {full} nodes {{ id name createdAt priceCents durationMinutes userId connectionType }} }} }}"),
            json!({ "n": 100 }),
        )
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
}

async fn a_cached_page_makes_no_database_load(backend: Backend) {
    // Without the response cache, so that every page is cut by the plan service.
    let app = spawn_app_with(
        backend,
        AppOptions {
            response_cache_entries: 0,
            ..AppOptions::default()
        },
    )
    .await;
    for i in 0..5 {
        app.create_ok(1, "HOTSPOT", &format!("p{i}")).await;
    }
    if backend == Backend::Postgres {
        app.wait_for_notifications(5).await;
    }
    // The first read of the key may load it; then the key is cached.
    let first = page(&app, json!({ "userId": 1, "first": 2 })).await;
    let loads = app.metric("plan_cache_db_loads_total").await;
    let hits = app.metric("plan_cache_hits_total").await;
    let mut after = first.end;
    let mut pages = 0.0;
    loop {
        let next = page(&app, json!({ "userId": 1, "first": 2, "after": after })).await;
        pages += 1.0;
        if !next.has_next {
            break;
        }
        after = next.end;
    }
    page(&app, json!({ "userId": 1, "last": 2 })).await;
    assert_eq!(
        app.metric("plan_cache_db_loads_total").await,
        loads,
        "no database query"
    );
    assert_eq!(
        app.metric("plan_cache_hits_total").await,
        hits + pages + 1.0
    );

    // A write to the list: the next page reads it once, with the new plan.
    let id = app.create_ok(1, "HOTSPOT", "new").await;
    if backend == Backend::Postgres {
        app.wait_for_notifications(6).await;
    }
    let last = page(&app, json!({ "userId": 1, "last": 1 })).await;
    assert_eq!(last.ids, [id]);
    assert_eq!(last.total, 6);
    let loads = app.metric("plan_cache_db_loads_total").await;
    page(&app, json!({ "userId": 1, "first": 3 })).await;
    assert_eq!(app.metric("plan_cache_db_loads_total").await, loads);
}
