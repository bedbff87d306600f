//! The wire API's regions. EventBridge's and SQS's resources are regional:
//! the same bus name in two regions is two buses, each with its own ARN,
//! rules, targets, archives, replays, connections, API destinations, tags,
//! policy and queues, and each region has its own `default` bus. A request
//! is served by the bus of the region it names: its SigV4 credential scope
//! (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`), else a host such
//! as `events.REGION.amazonaws.com`, else the configured region.
//!
//! The configured region is the bus the mediator itself uses, in the main
//! database, as before. Another region's bus is opened on first use in
//! its own database under `<data-dir>/regions/<region>/` (the same schema,
//! so no table changes), with its own workers, and opened again at
//! start-up, so its pending deliveries, replays and schedules resume.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::http::HeaderMap;
use bus::{Bus, BusConfig, BusError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// At most this many regions besides the configured one (each is a
/// database and a set of workers).
pub const MAX_REGIONS: usize = 32;

/// How other regions' buses are opened.
pub struct Opener {
    /// `<data-dir>/regions`: one directory per region.
    pub root: PathBuf,
    /// Their databases' durability (the main database's).
    pub durability: store::Durability,
    /// The configured bus's settings; only the region differs.
    pub config: BusConfig,
    /// Where their workers run, stopped by `shutdown`.
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

/// The bus of each region.
pub struct Regions {
    home: Bus,
    opener: Option<Opener>,
    open: tokio::sync::Mutex<HashMap<String, Bus>>,
}

impl Regions {
    /// Every request served by `bus`, whatever region it names.
    pub fn single(bus: Bus) -> Self {
        Self {
            home: bus,
            opener: None,
            open: Default::default(),
        }
    }

    /// `home` for the configured region; other regions through `opener`,
    /// those used before (a directory under its root) opened now.
    pub async fn with_opener(home: Bus, opener: Opener) -> Result<Self, BusError> {
        let regions = Self {
            home,
            opener: Some(opener),
            open: Default::default(),
        };
        let root = &regions.opener.as_ref().expect("an opener").root;
        let mut used: Vec<String> = std::fs::read_dir(root)
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|name| is_region(name))
                    .collect()
            })
            .unwrap_or_default();
        used.sort();
        for region in used {
            regions.bus(Some(&region)).await?;
        }
        Ok(regions)
    }

    /// The configured region's bus.
    pub fn home(&self) -> &Bus {
        &self.home
    }

    /// The bus of `region` (`None`, or the configured region: the
    /// configured bus), opened if needed.
    pub async fn bus(&self, region: Option<&str>) -> Result<Bus, BusError> {
        let Some(opener) = &self.opener else {
            return Ok(self.home.clone());
        };
        let Some(region) = region.filter(|r| *r != self.home.config().region) else {
            return Ok(self.home.clone());
        };
        let mut open = self.open.lock().await;
        if let Some(bus) = open.get(region) {
            return Ok(bus.clone());
        }
        if open.len() >= MAX_REGIONS {
            return Err(BusError::LimitExceeded(format!(
                "The requested resource exceeds the maximum number allowed: at most \
                 {MAX_REGIONS} regions besides {}.",
                self.home.config().region
            )));
        }
        let dir = opener.root.join(region);
        let durability = opener.durability;
        let db = tokio::task::spawn_blocking(move || store::Database::open_with(&dir, durability))
            .await
            .map_err(|e| BusError::Internal(e.to_string()))?
            .map_err(|e| BusError::Internal(format!("region {region}: {e}")))?;
        let bus = Bus::open(
            db,
            BusConfig {
                region: region.to_owned(),
                ..opener.config.clone()
            },
        )
        .await?;
        bus.spawn_workers(&opener.tracker, opener.shutdown.clone());
        tracing::info!(region, "EventBridge API: region opened");
        open.insert(region.to_owned(), bus.clone());
        Ok(bus)
    }
}

/// The region a request names: its SigV4 credential scope, else an AWS
/// endpoint host (`events.REGION.amazonaws.com`, `sqs.REGION…`); `None`
/// when neither names a region.
pub fn request_region(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let from_scope = header("authorization").and_then(|auth| {
        let credential = auth.split("Credential=").nth(1)?;
        let credential = credential.split([',', ' ']).next()?;
        // AKID/DATE/REGION/SERVICE/aws4_request
        let region = credential.split('/').nth(2)?;
        is_region(region).then(|| region.to_owned())
    });
    from_scope.or_else(|| {
        let host = header("host")?.to_ascii_lowercase();
        let host = host.split(':').next()?.trim_end_matches('.').to_owned();
        let mut labels = host.split('.');
        let (service, region) = (labels.next()?, labels.next()?);
        let rest: Vec<&str> = labels.collect();
        let aws = matches!(rest[..], ["amazonaws", "com"] | ["amazonaws", "com", "cn"]);
        (aws && matches!(service, "events" | "sqs") && is_region(region)).then(|| region.to_owned())
    })
}

/// Whether `s` is shaped as an AWS region name (`us-east-1`,
/// `us-gov-west-1`, `cn-north-1`): what else a request names is ignored.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    s.len() <= 30
        && parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_region_comes_from_the_credential_scope_then_the_host() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261207/eu-west-1/events/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(
            request_region(&headers(&[
                ("authorization", auth),
                ("host", "127.0.0.1:4010")
            ])),
            Some("eu-west-1".into())
        );
        assert_eq!(
            request_region(&headers(&[("host", "events.ap-southeast-2.amazonaws.com")])),
            Some("ap-southeast-2".into())
        );
        assert_eq!(
            request_region(&headers(&[("host", "sqs.cn-north-1.amazonaws.com.cn:443")])),
            Some("cn-north-1".into())
        );
        for (auth, host) in [
            ("", "127.0.0.1:4010"),
            (
                "AWS4-HMAC-SHA256 Credential=AKID/20261207/local/events/aws4_request",
                "localhost",
            ),
            ("Bearer x", "events.example.com"),
            ("", "events.us-east-1.example.com"),
        ] {
            let mut h = headers(&[("host", host)]);
            if !auth.is_empty() {
                h.insert("authorization", auth.parse().unwrap());
            }
            assert_eq!(request_region(&h), None, "{auth} {host}");
        }
    }

    #[test]
    fn region_names_are_recognised_by_shape() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-2",
            "eu-central-2",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "local",
            "us-east",
            "US-EAST-1",
            "us-east-x",
            "a-b-1",
            "us--1",
            "../x-y-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
