//! The GraphQL client the load tasks share: one request, and the writes and reads they check.

use serde_json::{Value, json};

pub const TOKEN: &str = "soak-admin-token-0123456789";

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
}

impl Client {
    /// One GraphQL request; `Err` for anything but a 200 with data and no errors.
    pub async fn graphql(
        &self,
        query: &str,
        variables: Value,
        admin: bool,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if admin {
            request = request.bearer_auth(TOKEN);
        }
        let response = request.send().await.map_err(|err| err.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|err| err.to_string())?;
        if status != reqwest::StatusCode::OK || body.get("errors").is_some() {
            return Err(format!("{status}: {body}"));
        }
        body.get("data")
            .cloned()
            .ok_or_else(|| format!("no data: {body}"))
    }

    pub async fn create(&self, user_id: i32, connection_type: &str) -> Result<String, String> {
        let data = self
            .graphql(
                "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
                json!({ "input": {
                    "userId": user_id,
                    "name": format!("soak plan of {user_id}"),
                    "connectionType": connection_type,
                    "priceCents": 1000,
                    "durationMinutes": 60,
                }}),
                true,
            )
            .await?;
        data["createPlan"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no id: {data}"))
    }

    pub async fn user_plan_ids(&self, user_id: i32) -> Result<Vec<String>, String> {
        let data = self
            .graphql(
                "query($userId: Int) { plans(userId: $userId) { id } }",
                json!({ "userId": user_id }),
                false,
            )
            .await?;
        Ok(data["plans"]
            .as_array()
            .ok_or_else(|| format!("no list: {data}"))?
            .iter()
            .filter_map(|plan| plan["id"].as_str().map(str::to_owned))
            .collect())
    }
}
