//! The workload: which requests exist, how often each is sent, and their exact HTTP bytes.

use bytes::Bytes;

const FIELDS: &str = "id userId name connectionType priceCents durationMinutes createdAt";

/// What a page request selects: what a paging dashboard needs to show a page and ask for the next.
const PAGE: &str = "edges { cursor node { id userId name connectionType priceCents durationMinutes createdAt } } pageInfo { hasNextPage endCursor } totalCount";

/// The query that walks the whole list a page at a time, to learn the cursors of [`Shape::AllPage`].
pub const WALK_PAGES: &str = "query Walk($after: String) { plansConnection(first: 100, after: $after) { pageInfo { hasNextPage endCursor } } }";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `plans(userId, connectionType: HOTSPOT)`: what a captive portal lists.
    Hotspot(u32),
    /// `plans(userId)`: an operator's dashboard.
    User(u32),
    /// `plans`: all of them (20,000 with the default data set).
    All,
    /// `plansConnection(userId, first: 20)`: the first page of an operator's dashboard.
    UserPage(u32),
    /// `plansConnection(first: 100, after: …)`: page `n` (from 0) of the whole list.
    AllPage(u32),
}

impl Shape {
    /// The document and the variables (JSON); `cursors[n]` is the `after` of page `n` of the
    /// whole list.
    fn parts(self, cursors: &[Option<String>]) -> (String, String) {
        match self {
            Self::Hotspot(user) => (
                format!(
                    "query Hotspot($userId: Int!) {{ plans(userId: $userId, connectionType: HOTSPOT) {{ {FIELDS} }} }}"
                ),
                format!("{{\"userId\":{user}}}"),
            ),
            Self::User(user) => (
                format!(
                    "query UserPlans($userId: Int!) {{ plans(userId: $userId) {{ {FIELDS} }} }}"
                ),
                format!("{{\"userId\":{user}}}"),
            ),
            Self::All => (
                format!("query AllPlans {{ plans {{ {FIELDS} }} }}"),
                "{}".to_owned(),
            ),
            Self::UserPage(user) => (
                format!(
                    "query UserPage($userId: Int!) {{ plansConnection(userId: $userId, first: 20) {{ {PAGE} }} }}"
                ),
                format!("{{\"userId\":{user}}}"),
            ),
            Self::AllPage(page) => (
                format!(
                    "query AllPage($after: String) {{ plansConnection(first: 100, after: $after) {{ {PAGE} }} }}"
                ),
                format!(
                    "{{\"after\":{}}}",
                    serde_json::to_string(&cursors[page as usize]).expect("a cursor is JSON")
                ),
            ),
        }
    }

    /// The request as a plain POST body: query and variables.
    fn body(self, cursors: &[Option<String>]) -> String {
        let (query, variables) = self.parts(cursors);
        format!(
            "{{\"query\":{},\"variables\":{variables}}}",
            serde_json::Value::String(query)
        )
    }

    /// The request as Apollo's persisted-queries link sends it once the server knows the
    /// document: variables and the document's sha256, no query.
    fn apq_body(self, cursors: &[Option<String>]) -> String {
        let (query, variables) = self.parts(cursors);
        format!(
            "{{\"variables\":{variables},\"extensions\":{}}}",
            apq_extension(&query)
        )
    }

    /// The request that registers the document (APQ): query, variables and hash.
    fn apq_registration(self, cursors: &[Option<String>]) -> String {
        let (query, variables) = self.parts(cursors);
        format!(
            "{{\"query\":{},\"variables\":{variables},\"extensions\":{}}}",
            serde_json::Value::String(query.clone()),
            apq_extension(&query)
        )
    }
}

fn apq_extension(query: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(query.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{{\"persistedQuery\":{{\"version\":1,\"sha256Hash\":\"{hash}\"}}}}")
}

/// A complete HTTP/1.1 POST of `body` to /graphql, with `authorization` (a header line, or
/// nothing).
fn http_post(body: &[u8], authorization: &str) -> Bytes {
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{authorization}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    Bytes::from(request)
}

/// Every request the workload can send, indexed: `Hotspot(u)` at `u - 1`, `User(u)` at
/// `users + u - 1`, `All` at `2 * users`, `UserPage(u)` at `2 * users + u`, then `AllPage(n)` at
/// `3 * users + 1 + n`.
pub struct Requests {
    pub users: u32,
    /// Pages of the whole list (100 plans each).
    pub pages: u32,
    /// The JSON bodies (what the ceiling server looks responses up by).
    pub bodies: Vec<Bytes>,
    /// The complete HTTP/1.1 requests, written to the socket as they are.
    pub http: Vec<Bytes>,
    /// The same requests as APQ hash-only bodies (same responses).
    pub apq_bodies: Vec<Bytes>,
    pub apq_http: Vec<Bytes>,
    /// One HTTP request per document registering it for APQ.
    pub apq_registrations: Vec<Bytes>,
}

impl Requests {
    /// Every request, each with `Authorization: Bearer <token>` when `token` is given.
    /// `page_cursors[n]` is the `after` of page `n` of the whole list (`None` for the first);
    /// without them (no paging mix in the run), there are no page requests.
    pub fn new(users: u32, page_cursors: Option<&[Option<String>]>, token: Option<&str>) -> Self {
        let authorization = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let page_cursors = page_cursors.unwrap_or_default();
        let pages = u32::try_from(page_cursors.len()).expect("fewer than 2^32 pages");
        let user_pages = if page_cursors.is_empty() { 0 } else { users };
        let shapes: Vec<Shape> = (1..=users)
            .map(Shape::Hotspot)
            .chain((1..=users).map(Shape::User))
            .chain([Shape::All])
            .chain((1..=user_pages).map(Shape::UserPage))
            .chain((0..pages).map(Shape::AllPage))
            .collect();
        let bodies: Vec<Bytes> = shapes
            .iter()
            .map(|shape| Bytes::from(shape.body(page_cursors)))
            .collect();
        let http = bodies
            .iter()
            .map(|body| http_post(body, &authorization))
            .collect();
        let apq_bodies: Vec<Bytes> = shapes
            .iter()
            .map(|shape| Bytes::from(shape.apq_body(page_cursors)))
            .collect();
        let apq_http = apq_bodies
            .iter()
            .map(|body| http_post(body, &authorization))
            .collect();
        // One per document; the page documents only when there are page requests.
        let page_documents: &[Shape] = if pages == 0 {
            &[]
        } else {
            &[Shape::UserPage(1), Shape::AllPage(0)]
        };
        let apq_registrations = [Shape::Hotspot(1), Shape::User(1), Shape::All]
            .iter()
            .chain(page_documents)
            .map(|shape| {
                http_post(
                    shape.apq_registration(page_cursors).as_bytes(),
                    &authorization,
                )
            })
            .collect();
        Self {
            users,
            pages,
            bodies,
            http,
            apq_bodies,
            apq_http,
            apq_registrations,
        }
    }

    /// The same requests with `headers` (complete header lines, e.g.
    /// `Plans-Consistency: …\r\n`) in place of the authorization line: same bodies, same
    /// expected responses.
    pub fn with_headers(mut self, headers: &str) -> Self {
        self.http = self
            .bodies
            .iter()
            .map(|body| http_post(body, headers))
            .collect();
        self.apq_http = self
            .apq_bodies
            .iter()
            .map(|body| http_post(body, headers))
            .collect();
        self
    }

    /// The HTTP request at `index` as `mix` sends it.
    pub fn http_for(&self, mix: Mix, index: usize) -> &Bytes {
        if mix == Mix::HotApq {
            &self.apq_http[index]
        } else {
            &self.http[index]
        }
    }

    pub fn index(&self, shape: Shape) -> usize {
        let users = self.users as usize;
        match shape {
            Shape::Hotspot(user) => user as usize - 1,
            Shape::User(user) => users + user as usize - 1,
            Shape::All => 2 * users,
            Shape::UserPage(user) => 2 * users + user as usize,
            Shape::AllPage(page) => 3 * users + 1 + page as usize,
        }
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }
}

/// The request mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    /// 90% `Hotspot`, 9% `User`, 1% `All`.
    Realistic,
    /// 100% `Hotspot`.
    HotOnly,
    /// 100% `Hotspot` as APQ hash-only requests (documents registered beforehand): what Apollo's
    /// persisted-queries link sends, against `HotOnly`'s byte-identical hit.
    HotApq,
    /// A paging dashboard: 50% `UserPage` (Zipf operator), 50% `AllPage` (any page, uniformly).
    Paging,
}

impl Mix {
    /// Every mix, in the order runs measure and report them.
    pub const ALL: [Self; 4] = [Self::HotOnly, Self::HotApq, Self::Realistic, Self::Paging];

    pub fn label(self) -> &'static str {
        match self {
            Self::Realistic => "realistic",
            Self::HotOnly => "hot-only",
            Self::HotApq => "hot-apq",
            Self::Paging => "paging",
        }
    }

    /// The next request; `pages` is how many pages the whole list has.
    pub fn pick(self, zipf: &Zipf, pages: u32, rng: &mut Rng) -> Shape {
        let user = zipf.sample(rng.unit()) as u32 + 1;
        match self {
            Self::HotOnly | Self::HotApq => Shape::Hotspot(user),
            Self::Realistic => match rng.next() % 100 {
                0..90 => Shape::Hotspot(user),
                90..99 => Shape::User(user),
                _ => Shape::All,
            },
            Self::Paging if pages == 0 || rng.next().is_multiple_of(2) => Shape::UserPage(user),
            Self::Paging => Shape::AllPage((rng.next() % u64::from(pages)) as u32),
        }
    }
}

/// Zipf over ranks `0..n`: rank `k` has weight `1 / (k + 1)^s`. Tenant 1 is the hottest.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: u32, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                total += 1.0 / f64::from(k).powf(s);
                total
            })
            .collect();
        for value in &mut cdf {
            *value /= total;
        }
        Self { cdf }
    }

    /// The rank at which the CDF reaches `u` (in `[0, 1)`).
    pub fn sample(&self, u: f64) -> usize {
        self.cdf
            .partition_point(|&p| p <= u)
            .min(self.cdf.len() - 1)
    }

    pub fn probability(&self, rank: usize) -> f64 {
        self.cdf[rank] - if rank == 0 { 0.0 } else { self.cdf[rank - 1] }
    }
}

/// xorshift64*: tiny, fast and good enough to pick requests; seeded per connection so runs
/// repeat.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Spread small seeds over the state; never zero.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks_as_s_says() {
        let zipf = Zipf::new(2_000, 1.1);
        let ratio = zipf.probability(0) / zipf.probability(1);
        assert!((ratio - 2f64.powf(1.1)).abs() < 1e-9);
        assert_eq!(zipf.sample(0.0), 0);
        assert_eq!(zipf.sample(0.999_999_999), 1_999);
        let mut rng = Rng::new(7);
        let hits = (0..100_000)
            .filter(|_| zipf.sample(rng.unit()) == 0)
            .count();
        let expected = zipf.probability(0) * 100_000.0;
        assert!((hits as f64 - expected).abs() < expected * 0.05);
    }

    #[test]
    fn the_realistic_mix_has_its_proportions() {
        let zipf = Zipf::new(100, 1.1);
        let mut rng = Rng::new(1);
        let mut counts = [0usize; 3];
        for _ in 0..100_000 {
            counts[match Mix::Realistic.pick(&zipf, 0, &mut rng) {
                Shape::Hotspot(_) => 0,
                Shape::User(_) => 1,
                Shape::All => 2,
                other => panic!("not in the realistic mix: {other:?}"),
            }] += 1;
        }
        assert!((89_000..91_000).contains(&counts[0]), "{counts:?}");
        assert!((8_500..9_500).contains(&counts[1]), "{counts:?}");
        assert!((800..1_200).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn the_paging_mix_pages_users_and_the_whole_list_evenly() {
        let zipf = Zipf::new(100, 1.1);
        let mut rng = Rng::new(3);
        let mut user_pages = 0;
        let mut seen_pages = [0usize; 4];
        for _ in 0..10_000 {
            match Mix::Paging.pick(&zipf, 4, &mut rng) {
                Shape::UserPage(user) => {
                    assert!((1..=100).contains(&user));
                    user_pages += 1;
                }
                Shape::AllPage(page) => seen_pages[page as usize] += 1,
                other => panic!("not in the paging mix: {other:?}"),
            }
        }
        assert!((4_700..5_300).contains(&user_pages), "{user_pages}");
        assert!(
            seen_pages.iter().all(|&n| (1_000..1_500).contains(&n)),
            "{seen_pages:?}"
        );
    }

    #[test]
    fn without_cursors_there_are_no_page_requests() {
        assert_eq!(Requests::new(3, None, None).len(), 7);
    }

    #[test]
    fn requests_are_indexed_and_well_formed() {
        let cursors = [None, Some("cGxhbjoxMDA".to_owned())];
        let requests = Requests::new(3, Some(&cursors), None);
        assert_eq!(requests.len(), 12);
        let page: serde_json::Value =
            serde_json::from_slice(&requests.bodies[requests.index(Shape::AllPage(1))]).unwrap();
        assert_eq!(page["variables"]["after"], "cGxhbjoxMDA");
        let first: serde_json::Value =
            serde_json::from_slice(&requests.bodies[requests.index(Shape::AllPage(0))]).unwrap();
        assert!(first["variables"]["after"].is_null());
        let user_page: serde_json::Value =
            serde_json::from_slice(&requests.bodies[requests.index(Shape::UserPage(3))]).unwrap();
        assert_eq!(user_page["variables"]["userId"], 3);
        assert_eq!(requests.index(Shape::AllPage(1)), requests.len() - 1);
        let body: serde_json::Value =
            serde_json::from_slice(&requests.bodies[requests.index(Shape::User(2))]).unwrap();
        assert_eq!(body["variables"]["userId"], 2);
        assert!(
            body["query"]
                .as_str()
                .unwrap()
                .contains("plans(userId: $userId)")
        );
        let http = &requests.http[requests.index(Shape::All)];
        assert!(http.starts_with(b"POST /graphql HTTP/1.1\r\n"));
        assert!(http.ends_with(&requests.bodies[6]));
        let apq: serde_json::Value =
            serde_json::from_slice(&requests.apq_bodies[requests.index(Shape::User(2))]).unwrap();
        assert_eq!(apq["variables"]["userId"], 2);
        assert!(apq.get("query").is_none());
        assert_eq!(apq["extensions"]["persistedQuery"]["version"], 1);
        let registration = &requests.apq_registrations[1];
        let text = String::from_utf8_lossy(registration);
        assert!(
            text.contains(
                apq["extensions"]["persistedQuery"]["sha256Hash"]
                    .as_str()
                    .unwrap()
            )
        );
        assert!(text.contains("UserPlans"));
    }
}
