//! Multi-field workloads for the matcher benchmark: CloudTrail-shaped events and rule
//! sets of any size built from shared vocabularies, and the same kind of rule sets over
//! the city-lot records. Every rule names 2–4 fields; a few use `prefix`,
//! `anything-but`, `numeric`, `exists` or `$or`. Rules are distinct (a generated
//! duplicate is drawn again), so large sets cannot collapse onto a few rules.

use std::collections::HashSet;

/// Small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

/// One rule: our pattern, and the same rule as `quamina` accepts it (a rule with `$or`
/// becomes one pattern per alternative under the same id, which means the same).
pub struct Rule {
    pub ours: String,
    pub quamina: Vec<String>,
}

/// A JSON object under construction from dotted paths.
#[derive(Default)]
struct Obj(Vec<(String, Node)>);
enum Node {
    Leaf(String),
    Obj(Obj),
}

impl Obj {
    fn from(fields: &[(&str, String)]) -> Obj {
        let mut o = Obj::default();
        for (path, v) in fields {
            o.insert(path, v.clone());
        }
        o
    }
    fn insert(&mut self, path: &str, v: String) {
        match path.split_once('.') {
            None => self.0.push((path.to_string(), Node::Leaf(v))),
            Some((head, rest)) => {
                let at = match self.0.iter().position(|(k, _)| k == head) {
                    Some(i) => i,
                    None => {
                        self.0.push((head.to_string(), Node::Obj(Obj::default())));
                        self.0.len() - 1
                    }
                };
                match &mut self.0[at].1 {
                    Node::Obj(o) => o.insert(rest, v),
                    Node::Leaf(_) => unreachable!("a path is both a leaf and an object"),
                }
            }
        }
    }
    fn render(&self) -> String {
        let body: Vec<String> = self
            .0
            .iter()
            .map(|(k, n)| match n {
                Node::Leaf(v) => format!("\"{k}\":{v}"),
                Node::Obj(o) => format!("\"{k}\":{}", o.render()),
            })
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// A rule from its fields, and optionally `$or` alternatives (each a field list).
fn rule(common: &[(&str, String)], or: &[Vec<(&str, String)>]) -> Rule {
    if or.is_empty() {
        let p = Obj::from(common).render();
        return Rule {
            ours: p.clone(),
            quamina: vec![p],
        };
    }
    let common_json = Obj::from(common).render();
    let alts: Vec<String> = or.iter().map(|a| Obj::from(a).render()).collect();
    let ours = format!(
        "{},\"$or\":[{}]}}",
        &common_json[..common_json.len() - 1],
        alts.join(",")
    );
    let quamina = or
        .iter()
        .map(|a| {
            let mut all = common.to_vec();
            all.extend(a.iter().cloned());
            Obj::from(&all).render()
        })
        .collect();
    Rule { ours, quamina }
}

fn s(v: &str) -> String {
    format!("[\"{v}\"]")
}

/// `n` distinct rules from `gen`, deterministic for a given seed. `gen` picks a rule
/// shape from a roll in `0..100`: the first rules take one shape each (the rolls in
/// `shapes`), so even the smallest set has every shape and names every field the
/// larger ones do; the rest are drawn at random.
fn distinct(
    n: usize,
    seed: u64,
    shapes: &[u64],
    mut gen: impl FnMut(&mut Rng, u64) -> Rule,
) -> Vec<Rule> {
    let mut rng = Rng(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let roll = match shapes.get(out.len()) {
            Some(&r) => r,
            None => rng.below(100),
        };
        let r = gen(&mut rng, roll);
        if seen.insert(r.ours.clone()) {
            out.push(r);
        }
    }
    out
}

// ---- CloudTrail ----

/// (source, eventSource, detail-type, event names).
const SERVICES: [(&str, &str, &str, [&str; 8]); 6] = [
    (
        "aws.s3",
        "s3.amazonaws.com",
        "AWS API Call via CloudTrail",
        [
            "PutObject",
            "GetObject",
            "DeleteObject",
            "CreateBucket",
            "DeleteBucket",
            "PutBucketPolicy",
            "PutBucketAcl",
            "GetBucketAcl",
        ],
    ),
    (
        "aws.ec2",
        "ec2.amazonaws.com",
        "AWS API Call via CloudTrail",
        [
            "RunInstances",
            "TerminateInstances",
            "StartInstances",
            "StopInstances",
            "CreateSecurityGroup",
            "AuthorizeSecurityGroupIngress",
            "CreateTags",
            "ModifyInstanceAttribute",
        ],
    ),
    (
        "aws.iam",
        "iam.amazonaws.com",
        "AWS API Call via CloudTrail",
        [
            "CreateUser",
            "DeleteUser",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "CreateAccessKey",
            "DeleteAccessKey",
            "CreateRole",
            "PutRolePolicy",
        ],
    ),
    (
        "aws.signin",
        "signin.amazonaws.com",
        "AWS Console Sign In via CloudTrail",
        [
            "ConsoleLogin",
            "SwitchRole",
            "ExitRole",
            "CheckMfa",
            "RenewRole",
            "GetSigninToken",
            "UserAuthentication",
            "CredentialVerification",
        ],
    ),
    (
        "aws.lambda",
        "lambda.amazonaws.com",
        "AWS API Call via CloudTrail",
        [
            "CreateFunction20150331",
            "DeleteFunction20150331",
            "UpdateFunctionCode20150331v2",
            "UpdateFunctionConfiguration20150331v2",
            "AddPermission20150331v2",
            "RemovePermission20150331v2",
            "PublishVersion20150331",
            "CreateAlias20150331",
        ],
    ),
    (
        "aws.kms",
        "kms.amazonaws.com",
        "AWS Service Event via CloudTrail",
        [
            "CreateKey",
            "ScheduleKeyDeletion",
            "DisableKey",
            "EnableKey",
            "PutKeyPolicy",
            "CreateGrant",
            "RevokeGrant",
            "Decrypt",
        ],
    ),
];
const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-south-1",
    "ap-northeast-1",
    "sa-east-1",
];
const USER_TYPES: [&str; 4] = ["IAMUser", "AssumedRole", "Root", "AWSService"];
const ACCOUNTS: u64 = 200;
const USERS: u64 = 5_000;
const BUCKETS: u64 = 500;

fn account(i: u64) -> String {
    format!("{:012}", 210_987_654_321 + i * 7_919)
}
fn user(i: u64) -> String {
    format!("user-{i:04}")
}
fn bucket(i: u64) -> String {
    format!("bucket-{i:03}-data")
}

/// `n` CloudTrail-shaped events (about 1.2 KB each).
pub fn cloudtrail_events(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x0C10_0D7A_11E5);
    (0..n)
        .map(|i| {
            let (source, event_source, dt, names) = SERVICES[rng.below(6) as usize];
            let name = rng.pick(&names);
            let acct = account(rng.below(ACCOUNTS));
            let region = rng.pick(&REGIONS);
            let u = user(rng.below(USERS));
            let utype = rng.pick(&USER_TYPES);
            let b = bucket(rng.below(BUCKETS));
            let (params, extra) = if source == "aws.s3" {
                (
                    format!(r#"{{"bucketName":"{b}","Host":"{b}.s3.{region}.amazonaws.com","key":"reports/2024/05/{i}.csv"}}"#),
                    format!(r#","additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":{},"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Zp3nR1c4mV0a8Qk2w7h1t9y5u3i6o0p2a4s6d8f0g1h3j5k7l9z","bytesTransferredOut":0}}"#, rng.below(100_000)),
                )
            } else {
                (
                    format!(r#"{{"resourceId":"r-{:08x}","tagSpecificationSet":{{"items":[{{"resourceType":"instance","tags":[{{"key":"team","value":"t{}"}}]}}]}}}}"#, rng.next() as u32, rng.below(20)),
                    String::new(),
                )
            };
            let error = if rng.below(10) == 0 {
                r#","errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation""#
            } else {
                ""
            };
            format!(
                r#"{{"version":"0","id":"6f7e{i:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b","detail-type":"{dt}","source":"{source}","account":"{acct}","time":"2024-05-01T10:{:02}:{:02}Z","region":"{region}","resources":[],"detail":{{"eventVersion":"1.09","userIdentity":{{"type":"{utype}","principalId":"AIDA{:016X}","arn":"arn:aws:iam::{acct}:user/{u}","accountId":"{acct}","accessKeyId":"AKIA{:016X}","userName":"{u}","sessionContext":{{"attributes":{{"creationDate":"2024-05-01T09:00:00Z","mfaAuthenticated":"false"}}}}}},"eventTime":"2024-05-01T10:00:00Z","eventSource":"{event_source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"10.{}.{}.{}","userAgent":"aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/{name}","requestParameters":{params},"responseElements":null{extra}{error},"requestID":"{:016X}","eventID":"{:016x}-aaaa-bbbb-cccc","readOnly":false,"resources":[{{"accountId":"{acct}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{b}"}}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{acct}","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{event_source}"}}}}}}"#,
                i % 60,
                (i / 60) % 60,
                rng.next(),
                rng.next(),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.next(),
                rng.next(),
            )
            .into_bytes()
        })
        .collect()
}

/// `n` distinct CloudTrail rules (see the module docs); a smaller set is the start of a
/// larger one.
pub fn cloudtrail_rules(n: usize) -> Vec<Rule> {
    distinct(
        n,
        0x005E_EDC7,
        &[0, 30, 52, 62, 70, 78, 85, 92],
        |rng, roll| {
            let svc = SERVICES[rng.below(6) as usize];
            let (source, _, dt, names) = svc;
            let name = rng.pick(&names);
            let s3 = SERVICES[0].3;
            match roll {
                // An S3 operation on one bucket.
                0..=29 => rule(
                    &[
                        ("source", s("aws.s3")),
                        ("detail.eventName", s(rng.pick(&s3))),
                        (
                            "detail.requestParameters.bucketName",
                            s(&bucket(rng.below(BUCKETS))),
                        ),
                    ],
                    &[],
                ),
                // One user's calls of one or two operations.
                30..=51 => {
                    let names = if rng.below(3) == 0 {
                        format!("[\"{name}\",\"{}\"]", rng.pick(&names))
                    } else {
                        s(name)
                    };
                    rule(
                        &[
                            ("detail.userIdentity.userName", s(&user(rng.below(USERS)))),
                            ("detail.eventName", names),
                        ],
                        &[],
                    )
                }
                // A service in one account and region.
                52..=61 => rule(
                    &[
                        ("source", s(source)),
                        ("account", s(&account(rng.below(ACCOUNTS)))),
                        ("region", s(rng.pick(&REGIONS))),
                    ],
                    &[],
                ),
                // An operation by any IAM user of one account (prefix).
                62..=69 => rule(
                    &[
                        ("source", s(source)),
                        ("detail.eventName", s(name)),
                        (
                            "detail.userIdentity.arn",
                            format!(
                                r#"[{{"prefix":"arn:aws:iam::{}:user/"}}]"#,
                                account(rng.below(ACCOUNTS))
                            ),
                        ),
                    ],
                    &[],
                ),
                // Everything but two operations, for one account and identity type.
                70..=77 => rule(
                    &[
                        ("detail-type", s(dt)),
                        ("account", s(&account(rng.below(ACCOUNTS)))),
                        (
                            "detail.eventName",
                            format!(r#"[{{"anything-but":["{name}","{}"]}}]"#, rng.pick(&names)),
                        ),
                        ("detail.userIdentity.type", s(rng.pick(&USER_TYPES))),
                    ],
                    &[],
                ),
                // Large uploads to one bucket (numeric).
                78..=84 => rule(
                    &[
                        ("source", s("aws.s3")),
                        (
                            "detail.requestParameters.bucketName",
                            s(&bucket(rng.below(BUCKETS))),
                        ),
                        (
                            "detail.additionalEventData.bytesTransferredIn",
                            format!(r#"[{{"numeric":[">",{}]}}]"#, rng.below(100) * 1000),
                        ),
                    ],
                    &[],
                ),
                // Failed calls by one user (exists).
                85..=91 => rule(
                    &[
                        ("source", s(source)),
                        ("detail.userIdentity.userName", s(&user(rng.below(USERS)))),
                        ("detail.errorCode", r#"[{"exists":true}]"#.to_string()),
                    ],
                    &[],
                ),
                // One account: an operation, or anything one user does ($or).
                _ => rule(
                    &[("account", s(&account(rng.below(ACCOUNTS))))],
                    &[
                        vec![("detail.eventName", s(name))],
                        vec![("detail.userIdentity.userName", s(&user(rng.below(USERS))))],
                    ],
                ),
            }
        },
    )
}

// ---- City lots ----

const STREETS: [&str; 8] = [
    "JESSIE", "MISSION", "FULTON", "HOWARD", "FOLSOM", "MARKET", "VAN NESS", "CLAY",
];
const ST_TYPES: [&str; 4] = ["ST", "AVE", "BLVD", "WAY"];

/// `n` distinct multi-field rules over the city-lot records.
pub fn city_lot_rules(n: usize) -> Vec<Rule> {
    distinct(
        n,
        0x05EE_D107,
        &[0, 35, 55, 65, 75, 83, 90, 95],
        |rng, roll| {
            let street = rng.pick(&STREETS);
            let block = format!("{:04}", rng.below(9000) + 1);
            let lot = format!("{:03}", rng.below(200) + 1);
            let odd_even = if rng.below(2) == 0 { "E" } else { "O" };
            match roll {
                // A street within one block.
                0..=34 => rule(
                    &[
                        ("properties.STREET", s(street)),
                        ("properties.BLOCK_NUM", s(&block)),
                    ],
                    &[],
                ),
                // One lot number on a street of one type.
                35..=54 => rule(
                    &[
                        ("properties.STREET", s(street)),
                        ("properties.ST_TYPE", s(rng.pick(&ST_TYPES))),
                        ("properties.LOT_NUM", s(&lot)),
                    ],
                    &[],
                ),
                // One side of one starting number.
                55..=64 => rule(
                    &[
                        ("type", s("Feature")),
                        ("properties.ODD_EVEN", s(odd_even)),
                        ("properties.FROM_ST", s(&rng.below(3000).to_string())),
                    ],
                    &[],
                ),
                // Street and block prefixes (ten blocks each).
                65..=74 => rule(
                    &[
                        (
                            "properties.STREET",
                            format!(r#"[{{"prefix":"{}"}}]"#, &street[..2]),
                        ),
                        ("properties.ODD_EVEN", s(odd_even)),
                        (
                            "properties.BLOCK_NUM",
                            format!(r#"[{{"prefix":"{}"}}]"#, &block[..3]),
                        ),
                    ],
                    &[],
                ),
                // Any street but two, for one block, with a street type present.
                75..=82 => rule(
                    &[
                        (
                            "properties.STREET",
                            format!(
                                r#"[{{"anything-but":["{street}","{}"]}}]"#,
                                rng.pick(&STREETS)
                            ),
                        ),
                        ("properties.BLOCK_NUM", s(&block)),
                        ("properties.ST_TYPE", r#"[{"exists":true}]"#.to_string()),
                    ],
                    &[],
                ),
                // One block within a longitude strip (numeric, over the coordinate arrays).
                83..=89 => {
                    let lo = -122.52 + rng.below(150) as f64 / 1000.0;
                    rule(
                        &[
                            ("properties.BLOCK_NUM", s(&block)),
                            (
                                "geometry.coordinates",
                                format!(r#"[{{"numeric":[">=",{lo:.3},"<",{:.3}]}}]"#, lo + 0.001),
                            ),
                        ],
                        &[],
                    )
                }
                // Lots with no street type, on one street.
                90..=94 => rule(
                    &[
                        ("properties.ST_TYPE", "[null]".to_string()),
                        ("properties.STREET", s(street)),
                        ("properties.LOT_NUM", s(&lot)),
                    ],
                    &[],
                ),
                // One street: one block, or one lot on one side ($or).
                _ => rule(
                    &[("properties.STREET", s(street))],
                    &[
                        vec![("properties.BLOCK_NUM", s(&block))],
                        vec![
                            ("properties.LOT_NUM", s(&lot)),
                            ("properties.ODD_EVEN", s(odd_even)),
                        ],
                    ],
                ),
            }
        },
    )
}
