//! The few Nomad HTTP API calls the backend makes, with the parts of the answers it reads.

use std::{collections::HashMap, time::Duration};

use reqwest::{
    Method, Response, Url,
    header::{HeaderMap, HeaderValue},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::{NomadConfig, error::NomadError, spec::TASK};

/// How long a blocking query may hang before Nomad answers unchanged (its limit is 10 minutes).
const BLOCKING_WAIT: Duration = Duration::from_secs(60);
/// For every other call: Nomad answers these at once.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `POST /v1/job/:job_id/dispatch`'s answer.
#[derive(Debug, Deserialize)]
struct Dispatched {
    #[serde(rename = "DispatchedJobID")]
    dispatched_job_id: String,
}

/// An entry of `GET /v1/jobs?meta=true`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ParentID", default)]
    pub parent_id: String,
    #[serde(rename = "Meta", default)]
    pub meta: Option<HashMap<String, String>>,
    #[serde(rename = "CreateIndex", default)]
    pub create_index: u64,
}

/// The fields of `GET /v1/job/:job_id` the backend reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    #[serde(rename = "Stop", default)]
    pub stop: bool,
}

/// An entry of `GET /v1/job/:job_id/allocations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: String,
    /// `pending`, `running`, `complete`, `failed`, `lost` (or `unknown` while its node is
    /// disconnected).
    pub client_status: String,
    pub client_description: String,
    /// Why the scheduler stopped it: `alloc is lost since its node is down`, ...
    pub desired_description: String,
    pub create_index: u64,
    pub task_states: Option<HashMap<String, TaskState>>,
}

impl Allocation {
    /// The state of the processor task (the only task of the job).
    pub fn task(&self) -> Option<&TaskState> {
        self.task_states.as_ref()?.get(TASK)
    }

    /// What the client, or else the scheduler, says about it.
    pub fn description(&self) -> &str {
        [&self.client_description, &self.desired_description]
            .into_iter()
            .map(|text| text.trim())
            .find(|text| !text.is_empty())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// Oldest first; Nomad keeps the latest ten.
    pub events: Option<Vec<TaskEvent>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    /// `Terminated`, `Driver Failure`, `Killed`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    pub exit_code: i32,
    pub display_message: String,
    pub message: String,
    pub driver_error: String,
    pub setup_error: String,
    pub validation_error: String,
    pub download_error: String,
    pub kill_error: String,
    pub kill_reason: String,
    /// `exit_code`, `oom_killed` (`"true"`), ...
    pub details: Option<HashMap<String, String>>,
}

/// Nomad's HTTP API at one address, in one namespace and region, with one token.
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    scope: Vec<(&'static str, String)>,
}

impl Api {
    pub fn new(config: &NomadConfig) -> Result<Self, NomadError> {
        let base = Url::parse(&config.address).map_err(|source| NomadError::Address {
            address: config.address.clone(),
            source: Box::new(source),
        })?;
        let mut headers = HeaderMap::new();
        if let Some(token) = &config.token {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| NomadError::Token)?;
            value.set_sensitive(true);
            headers.insert("X-Nomad-Token", value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(NomadError::Client)?;
        let scope = [("namespace", &config.namespace), ("region", &config.region)]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.clone()?)))
            .collect();
        Ok(Self { http, base, scope })
    }

    pub async fn register(&self, spec: &Value) -> Result<(), NomadError> {
        let url = self.url(&["v1", "jobs"], &[]);
        self.call(Method::POST, url, Some(spec), None).await?;
        Ok(())
    }

    /// The dispatched job's id: a new one, or the one Nomad already has for `token`.
    pub async fn dispatch(
        &self,
        parent: &str,
        request: &Value,
        token: &str,
    ) -> Result<String, NomadError> {
        // The docs name the token a query parameter (the Go client sends `idempotency_token`);
        // the server also decodes it from the body. Both carry it, whichever a version reads.
        let url = self.url(
            &["v1", "job", parent, "dispatch"],
            &[("idempotency_token", token)],
        );
        let dispatched: Dispatched = self.json(Method::POST, url, Some(request)).await?;
        Ok(dispatched.dispatched_job_id)
    }

    /// The dispatched children of `parent`, with their meta.
    pub async fn children(&self, parent: &str) -> Result<Vec<JobStub>, NomadError> {
        let prefix = format!("{parent}/dispatch-");
        let url = self.url(&["v1", "jobs"], &[("prefix", &prefix), ("meta", "true")]);
        self.json(Method::GET, url, None).await
    }

    /// The job, or `None` when Nomad does not know it (never registered, purged or collected).
    pub async fn job(&self, id: &str) -> Result<Option<Job>, NomadError> {
        let url = self.url(&["v1", "job", id], &[]);
        match self.json(Method::GET, url, None).await {
            Err(error) if error.is_not_found() => Ok(None),
            answer => answer.map(Some),
        }
    }

    /// The job's allocations and the index they are at. With `after`, a blocking query: Nomad
    /// answers once they change past that index (or after [`BLOCKING_WAIT`]).
    pub async fn allocations(
        &self,
        job_id: &str,
        after: Option<u64>,
    ) -> Result<(Vec<Allocation>, Option<u64>), NomadError> {
        let segments = ["v1", "job", job_id, "allocations"];
        let (url, timeout) = match after {
            None => (self.url(&segments, &[]), None),
            Some(index) => {
                let wait = format!("{}s", BLOCKING_WAIT.as_secs());
                let url = self.url(&segments, &[("index", &index.to_string()), ("wait", &wait)]);
                // Nomad adds up to wait/16 to spread wake-ups.
                (
                    url,
                    Some(BLOCKING_WAIT + BLOCKING_WAIT / 16 + REQUEST_TIMEOUT),
                )
            }
        };
        let path = url.path().to_owned();
        let response = self.call(Method::GET, url, None, timeout).await?;
        let index = response
            .headers()
            .get("X-Nomad-Index")
            .and_then(|value| value.to_str().ok()?.parse().ok());
        let allocations: Option<Vec<Allocation>> = decode(Method::GET, path, response).await?;
        Ok((allocations.unwrap_or_default(), index))
    }

    /// Stops the job and purges it; one Nomad does not know is already gone.
    pub async fn purge(&self, id: &str) -> Result<(), NomadError> {
        let url = self.url(&["v1", "job", id], &[("purge", "true")]);
        match self.call(Method::DELETE, url, None, None).await {
            Err(error) if error.is_not_found() => Ok(()),
            answer => answer.map(drop),
        }
    }

    /// The last `bytes` bytes of the processor task's stderr, or `None` when the client no
    /// longer has the allocation's logs.
    pub async fn stderr_tail(
        &self,
        allocation: &str,
        bytes: usize,
    ) -> Result<Option<String>, NomadError> {
        let offset = bytes.to_string();
        let query = [
            ("task", TASK),
            ("type", "stderr"),
            ("origin", "end"),
            ("offset", offset.as_str()),
            ("plain", "true"),
        ];
        let url = self.url(&["v1", "client", "fs", "logs", allocation], &query);
        let path = url.path().to_owned();
        let response = match self.call(Method::GET, url, None, None).await {
            Err(error) if error.is_not_found() => return Ok(None),
            answer => answer?,
        };
        let text = response.text().await.map_err(|source| NomadError::Decode {
            method: Method::GET,
            path,
            source,
        })?;
        Ok(Some(text))
    }

    /// `segments` are percent-encoded one by one: a dispatched job's id holds a `/`.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) address has a path")
            .pop_if_empty()
            .extend(segments);
        let pairs: Vec<(&str, &str)> = self
            .scope
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(query.iter().copied())
            .collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, NomadError> {
        let path = url.path().to_owned();
        let response = self.call(method.clone(), url, body, None).await?;
        decode(method, path, response).await
    }

    /// Sends the request; any answer but a success becomes an error carrying Nomad's message.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Response, NomadError> {
        let path = url.path().to_owned();
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request
            .send()
            .await
            .map_err(|source| NomadError::Unreachable {
                method: method.clone(),
                path: path.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // Nomad's error bodies are plain text; an unreadable one still leaves the status.
        let body = response.text().await.unwrap_or_default();
        Err(NomadError::from_answer(method, path, status, &body))
    }
}

async fn decode<T: DeserializeOwned>(
    method: Method,
    path: String,
    response: Response,
) -> Result<T, NomadError> {
    response.json().await.map_err(|source| NomadError::Decode {
        method,
        path,
        source,
    })
}
