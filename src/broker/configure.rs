//! Kafka's DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and for the
//! broker: the one implementation the wire listener and the in-process admin both call.

use std::collections::BTreeMap;

use super::broker_configs::{self, DynamicConfigs};
use super::config::{ConfigEntry, ConfigOp, ConfigResource, ConfigType, DescribeOptions};
use super::topic_configs::{self, list_items};
use super::{lock, read, write, Broker};
use crate::error::{Error, Result};

impl Broker {
    pub fn describe_configs(&self, resource: &ConfigResource, opts: &DescribeOptions) -> Result<Vec<ConfigEntry>> {
        self.check_open()?;
        match resource {
            ConfigResource::Topic(name) => {
                let topic = self.topic(name)?;
                let overrides = read(&topic.overrides);
                Ok(topic_configs::describe(&self.config.log, &overrides, opts))
            }
            ConfigResource::Broker(name) => {
                broker_configs::describe(&self.config, &self.dir, &lock(&self.dynamic_configs), name, opts)
            }
        }
    }

    /// A topic's configs as they would be with these overrides (CreateTopics v5+ answers
    /// with them).
    pub fn topic_configs_with(&self, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
        topic_configs::describe(&self.config.log, overrides, &DescribeOptions::default())
    }

    /// Kafka's (non-incremental) AlterConfigs: the given entries replace every override of
    /// the resource (a topic's, or the broker's dynamic configs for "0" or "").
    pub fn alter_configs(&self, resource: &ConfigResource, entries: &[(String, Option<String>)], validate_only: bool) -> Result<()> {
        let nulls: Vec<&str> = entries.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| n.as_str()).collect();
        let given = || entries.iter().map(|(n, v)| (n.clone(), v.clone().unwrap_or_default())).collect::<BTreeMap<_, _>>();
        match resource {
            ConfigResource::Topic(topic) => {
                if !nulls.is_empty() {
                    return Err(Error::InvalidConfig(format!("Null value not supported for topic configs: {}", nulls.join(","))));
                }
                self.change_topic_configs(topic, validate_only, |overrides| {
                    *overrides = given();
                    Ok(())
                })
            }
            ConfigResource::Broker(name) => {
                if !nulls.is_empty() {
                    return Err(Error::InvalidRequest(format!("Null value not supported for : {}", nulls.join(", "))));
                }
                check_unique(entries.iter().map(|(n, _)| n))?;
                self.change_broker_configs(name, validate_only, |scope| {
                    *scope = given();
                    Ok(())
                })
            }
        }
    }

    /// Kafka's IncrementalAlterConfigs: sets, removes, appends to or subtracts from single
    /// configs of the resource, keeping the rest.
    pub fn incremental_alter_configs(&self, resource: &ConfigResource, ops: &[(String, ConfigOp)], validate_only: bool) -> Result<()> {
        match resource {
            ConfigResource::Topic(topic) => self.change_topic_configs(topic, validate_only, |overrides| {
                apply(overrides, ops, |name| {
                    let c = topic_configs::find(name).ok_or_else(|| Error::InvalidConfig(format!("Unknown topic config name: {name}")))?;
                    if c.kind != ConfigType::List {
                        return Err(Error::InvalidConfig(format!("Can't APPEND or SUBTRACT to key {name} because its type is not LIST.")));
                    }
                    Ok(Some(c.default_value(&self.config.log)))
                })
            }),
            ConfigResource::Broker(name) => {
                check_unique(ops.iter().map(|(n, _)| n))?;
                self.change_broker_configs(name, validate_only, |scope| {
                    apply(scope, ops, |n| broker_configs::list_default(n, &self.config, &self.dir))
                })
            }
        }
    }

    /// Changes a topic's overrides under its lock: the new configs are checked, written,
    /// then applied, so memory and disk agree and concurrent changes do not interleave.
    fn change_topic_configs(
        &self,
        topic: &str,
        validate_only: bool,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
    ) -> Result<()> {
        self.check_writable()?;
        if topic.is_empty() {
            return Err(Error::InvalidRequest("Default topic resources are not allowed.".into()));
        }
        let topic = self.topic(topic)?;
        let mut current = write(&topic.overrides);
        let mut overrides = current.clone();
        change(&mut overrides)?;
        let log_config = self.log_config(&overrides)?;
        if validate_only {
            return Ok(());
        }
        self.save_meta(&topic.dir, &topic.meta(topic.partition_count(), overrides.clone()))?;
        *current = overrides;
        drop(current);
        for p in topic.partitions() {
            p.log().set_config(log_config);
        }
        Ok(())
    }

    /// Changes the dynamic broker configs of one scope ("0" or ""), checked as Kafka
    /// checks them, and keeps them in the data directory.
    fn change_broker_configs(
        &self,
        resource: &str,
        validate_only: bool,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
    ) -> Result<()> {
        self.check_writable()?;
        let per_broker = broker_configs::check_name(resource, false)?;
        let mut current = lock(&self.dynamic_configs);
        let mut next: DynamicConfigs = current.clone();
        let scope = next.scope_mut(resource)?;
        change(scope)?;
        broker_configs::validate(scope, per_broker)?;
        if validate_only || next == *current {
            return Ok(());
        }
        self.write_file(&self.dir.join(broker_configs::FILE), &next.to_json()?)?;
        *current = next;
        Ok(())
    }
}

/// Kafka refuses a request that names one config twice for a resource.
fn check_unique<'a>(names: impl Iterator<Item = &'a String>) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(Error::InvalidRequest("Error due to duplicate config keys".into()));
        }
    }
    Ok(())
}

/// Applies incremental changes to a set of configs. `list_default` gives a LIST config's
/// default (the base an APPEND or SUBTRACT starts from) or refuses one that is no list.
fn apply(
    configs: &mut BTreeMap<String, String>,
    ops: &[(String, ConfigOp)],
    list_default: impl Fn(&str) -> Result<Option<String>>,
) -> Result<()> {
    for (name, op) in ops {
        match op {
            ConfigOp::Set(v) => {
                configs.insert(name.clone(), v.clone());
            }
            ConfigOp::Delete => {
                configs.remove(name);
            }
            ConfigOp::Append(v) | ConfigOp::Subtract(v) => {
                let default = list_default(name)?;
                let base = configs.get(name).cloned().or(default).unwrap_or_default();
                let mut items: Vec<String> = list_items(&base).into_iter().map(str::to_string).collect();
                let given = list_items(v);
                if matches!(op, ConfigOp::Append(_)) {
                    for i in given {
                        if !items.iter().any(|x| x == i) {
                            items.push(i.to_string());
                        }
                    }
                } else {
                    items.retain(|x| !given.contains(&x.as_str()));
                }
                configs.insert(name.clone(), items.join(","));
            }
        }
    }
    Ok(())
}
