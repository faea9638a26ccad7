//! Route tables, one per listener, and the startup checks that keep plugins from colliding.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::mount::{concrete, join, PRINTER_PLACEHOLDER};
use crate::plugin::route::patterns_overlap;
use crate::plugin::{MethodSet, RouteSpec};
use crate::{DASHBOARD_PREFIX, HOST_PREFIX};

/// Why the routes cannot be built. Startup stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Two plugins claim overlapping routes.
    #[error(
        "route conflict: plugin `{a}` route `{a_route}` and plugin `{b}` route `{b_route}` can match the same requests \
         (on {listener}); give one of them another mount in printfarm.toml ([plugins.<id>] mount = \"/…\")"
    )]
    Conflict {
        /// First plugin.
        a: String,
        /// Its route, with mount.
        a_route: String,
        /// Second plugin.
        b: String,
        /// Its route, with mount.
        b_route: String,
        /// Which listener.
        listener: String,
    },
    /// A plugin route reaches into a path the host keeps: its API prefix or the dashboard.
    #[error("plugin `{plugin}` route `{route}` reaches into `{reserved}`, reserved for the host's API and dashboard; mount it elsewhere")]
    Reserved {
        /// The host's path it reaches.
        reserved: String,
        /// Plugin.
        plugin: String,
        /// Route with mount.
        route: String,
    },
    /// Two listeners want the same address.
    #[error("address {addr} is claimed twice: by {a} and by {b}")]
    Address {
        /// The address.
        addr: SocketAddr,
        /// First claimant.
        a: String,
        /// Second claimant.
        b: String,
    },
    /// A plugin's own routes collide with each other.
    #[error("plugin `{plugin}`: route `{route}` cannot be added: {message}")]
    Invalid {
        /// Plugin.
        plugin: String,
        /// Route.
        route: String,
        /// Why.
        message: String,
    },
}

/// Where one plugin is mounted, as decided from its manifest and the operator's settings.
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// Index of the plugin in the host's plugin list.
    pub plugin: usize,
    /// Plugin id.
    pub id: String,
    /// Path mount (with `{printer}` for per-printer plugins).
    pub mount: String,
    /// Mounted once per printer.
    pub per_printer: bool,
    /// Its HTTP routes.
    pub routes: Vec<RouteSpec>,
    /// Its push routes.
    pub push_routes: Vec<String>,
    /// Its root routes: served at the main listener's root whatever the mount or listener, and
    /// on its own listener too.
    pub root_routes: Vec<RouteSpec>,
    /// A listener of its own, serving it at its root as well as under its mount.
    pub listen: Option<SocketAddr>,
    /// Per-printer listeners from this port on.
    pub first_port: Option<u16>,
}

/// A matched route's destination.
#[derive(Debug, Clone)]
pub struct RouteTarget {
    /// Index of the plugin.
    pub plugin: usize,
    /// The printer of a per-printer mount.
    pub printer: Option<String>,
    /// The concrete mount prefix (`/octoprint/p1`, empty at the root).
    pub mount: String,
    /// Methods and manifest route texts sharing this path.
    pub routes: Vec<(MethodSet, String)>,
}

impl RouteTarget {
    /// The manifest route that answers `method`.
    pub fn route_for(&self, method: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(m, _)| m.contains(method))
            .map(|(_, r)| r.as_str())
    }

    /// Every method this path answers.
    pub fn allowed(&self) -> MethodSet {
        self.routes
            .iter()
            .fold(MethodSet::default(), |acc, (m, _)| acc.union(*m))
    }
}

/// The routes of one listener.
#[derive(Default)]
pub struct RouteTable {
    http: matchit::Router<usize>,
    push: matchit::Router<usize>,
    targets: Vec<RouteTarget>,
    http_keys: BTreeMap<String, usize>,
}

/// A match: the target and the path parameters (percent-decoded, mount parameters removed).
pub struct Matched<'a> {
    /// Where to go.
    pub target: &'a RouteTarget,
    /// Path parameters in route order.
    pub params: Vec<(String, String)>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable")
            .field("targets", &self.targets)
            .finish()
    }
}

impl RouteTable {
    fn add(
        &mut self,
        plugin: &str,
        push: bool,
        pattern: String,
        target: RouteTarget,
        methods: MethodSet,
        route: &str,
    ) -> Result<(), TableError> {
        if !push {
            if let Some(&existing) = self.http_keys.get(&pattern) {
                // Same path, same plugin, other methods: one entry answers them all.
                self.targets[existing]
                    .routes
                    .push((methods, route.to_string()));
                return Ok(());
            }
        }
        let index = self.targets.len();
        let router = if push { &mut self.push } else { &mut self.http };
        router
            .insert(pattern.clone(), index)
            .map_err(|e| TableError::Invalid {
                plugin: plugin.to_string(),
                route: pattern.clone(),
                message: e.to_string(),
            })?;
        if !push {
            self.http_keys.insert(pattern, index);
        }
        self.targets.push(target);
        Ok(())
    }

    /// Finds the HTTP route for a (normalised) path.
    pub fn find_http(&self, path: &str) -> Option<Matched<'_>> {
        Self::find(&self.http, &self.targets, path)
    }

    /// Finds the push route for a path.
    pub fn find_push(&self, path: &str) -> Option<Matched<'_>> {
        Self::find(&self.push, &self.targets, path)
    }

    fn find<'a>(
        router: &matchit::Router<usize>,
        targets: &'a [RouteTarget],
        path: &str,
    ) -> Option<Matched<'a>> {
        let m = router.at(path).ok()?;
        let params = m
            .params
            .iter()
            .map(|(k, v)| {
                let decoded = percent_decode(v);
                (k.to_string(), decoded)
            })
            .collect();
        Some(Matched {
            target: &targets[*m.value],
            params,
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// One listening address and its routes.
#[derive(Debug)]
pub struct Listener {
    /// The address.
    pub addr: SocketAddr,
    /// Its routes.
    pub table: RouteTable,
    /// Whether the host's own routes are served here (only on the main listener).
    pub host_routes: bool,
    /// What it serves, for logs.
    pub label: String,
}

/// Builds every listener's route table. `printers` are the printer ids in config order.
pub fn build(
    main: SocketAddr,
    plans: &[MountPlan],
    printers: &[String],
) -> Result<Vec<Listener>, TableError> {
    check_conflicts(plans, &main)?;

    let mut listeners = vec![Listener {
        addr: main,
        table: RouteTable::default(),
        host_routes: true,
        label: "the main listener".into(),
    }];
    let claim = |listeners: &mut Vec<Listener>,
                 addr: SocketAddr,
                 label: String|
     -> Result<usize, TableError> {
        if let Some(existing) = listeners.iter().find(|l| l.addr == addr) {
            return Err(TableError::Address {
                addr,
                a: existing.label.clone(),
                b: label,
            });
        }
        listeners.push(Listener {
            addr,
            table: RouteTable::default(),
            host_routes: false,
            label,
        });
        Ok(listeners.len() - 1)
    };

    for plan in plans {
        let printer_list: Vec<Option<&str>> = if plan.per_printer {
            printers.iter().map(|p| Some(p.as_str())).collect()
        } else {
            vec![None]
        };
        for (k, printer) in printer_list.iter().enumerate() {
            // The path mount stays whatever else serves the plugin: a listener of its own and
            // per-printer ports come in addition, so links through the main port keep working.
            add_plugin(
                &mut listeners[0].table,
                plan,
                &concrete(&plan.mount, *printer),
                *printer,
            )?;
            if let (Some(first), Some(p)) = (plan.first_port, printer) {
                let port = first as usize + k;
                let port = u16::try_from(port).map_err(|_| TableError::Invalid {
                    plugin: plan.id.clone(),
                    route: format!("first-port {first}"),
                    message: format!("printer {k} would need port {port}, beyond 65535"),
                })?;
                let addr = SocketAddr::new(main.ip(), port);
                let i = claim(
                    &mut listeners,
                    addr,
                    format!("plugin `{}` for printer `{p}`", plan.id),
                )?;
                add_plugin(&mut listeners[i].table, plan, "", Some(p))?;
            }
        }
        add_root_routes(&mut listeners[0].table, plan)?;
        if let Some(addr) = plan.listen {
            let i = claim(&mut listeners, addr, format!("plugin `{}`", plan.id))?;
            add_plugin(&mut listeners[i].table, plan, "", None)?;
            add_root_routes(&mut listeners[i].table, plan)?;
        }
    }
    Ok(listeners)
}

/// Adds a plugin's root routes at the root of `table`: no mount (the request's `mount` is empty)
/// and no printer (per-printer plugins have none).
fn add_root_routes(table: &mut RouteTable, plan: &MountPlan) -> Result<(), TableError> {
    for route in &plan.root_routes {
        let target = RouteTarget {
            plugin: plan.plugin,
            printer: None,
            mount: String::new(),
            routes: vec![(route.methods, route.path.clone())],
        };
        table.add(
            &plan.id,
            false,
            route.path.clone(),
            target,
            route.methods,
            &route.path,
        )?;
    }
    Ok(())
}

fn add_plugin(
    table: &mut RouteTable,
    plan: &MountPlan,
    prefix: &str,
    printer: Option<&str>,
) -> Result<(), TableError> {
    let target = |routes: Vec<(MethodSet, String)>| RouteTarget {
        plugin: plan.plugin,
        printer: printer.map(str::to_string),
        mount: prefix.to_string(),
        routes,
    };
    for route in &plan.routes {
        let pattern = join(prefix, &route.path);
        // A mount's root answers with and without the trailing slash: clients given a base URL
        // (`http://host/brender`) ask for `base + "/"`.
        let with_slash = (route.path == "/" && !prefix.is_empty()).then(|| format!("{pattern}/"));
        for pattern in std::iter::once(pattern).chain(with_slash) {
            table.add(
                &plan.id,
                false,
                pattern,
                target(vec![(route.methods, route.path.clone())]),
                route.methods,
                &route.path,
            )?;
        }
    }
    for path in &plan.push_routes {
        let pattern = join(prefix, path);
        table.add(
            &plan.id,
            true,
            pattern,
            target(vec![(MethodSet::parse("GET").expect("GET"), path.clone())]),
            MethodSet::ANY,
            path,
        )?;
    }
    Ok(())
}

/// Refuses overlapping routes across plugins on the main listener (their mounted routes, and the
/// root routes of every plugin, which the main listener serves whatever the plugin's mount or
/// listener), and routes into the host's prefix. Checked on the mount templates (`{printer}` as a
/// parameter), so a farm of a hundred printers costs no more than one.
fn check_conflicts(plans: &[MountPlan], main: &SocketAddr) -> Result<(), TableError> {
    let reserved = [
        HOST_PREFIX.to_string(),
        format!("{HOST_PREFIX}/{{*rest}}"),
        "/".to_string(),
        DASHBOARD_PREFIX.to_string(),
        format!("{DASHBOARD_PREFIX}/"),
        format!("{DASHBOARD_PREFIX}/{{*rest}}"),
    ];
    let mut claimed: Vec<(&str, bool, MethodSet, String)> = Vec::new();
    for plan in plans {
        let prefix = concrete(&plan.mount, None).replace(PRINTER_PLACEHOLDER, "{printer}");
        let http = plan
            .routes
            .iter()
            .map(|r| (false, r.methods, join(&prefix, &r.path)));
        let push = plan
            .push_routes
            .iter()
            .map(|p| (true, MethodSet::ANY, join(&prefix, p)));
        let root = plan
            .root_routes
            .iter()
            .map(|r| (false, r.methods, r.path.clone()));
        for (is_push, methods, pattern) in http.chain(push).chain(root) {
            if let Some(r) = reserved.iter().find(|r| patterns_overlap(r, &pattern)) {
                return Err(TableError::Reserved {
                    reserved: r.clone(),
                    plugin: plan.id.clone(),
                    route: pattern,
                });
            }
            for (other, other_push, other_methods, other_pattern) in &claimed {
                let same_kind = *other_push == is_push;
                if *other != plan.id
                    && same_kind
                    && methods.intersects(*other_methods)
                    && patterns_overlap(other_pattern, &pattern)
                {
                    return Err(TableError::Conflict {
                        a: other.to_string(),
                        a_route: other_pattern.clone(),
                        b: plan.id.clone(),
                        b_route: pattern,
                        listener: main.to_string(),
                    });
                }
            }
            claimed.push((&plan.id, is_push, methods, pattern));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(i: usize, id: &str, mount: &str, per_printer: bool, routes: &[&str]) -> MountPlan {
        MountPlan {
            plugin: i,
            id: id.into(),
            mount: mount.into(),
            per_printer,
            routes: routes
                .iter()
                .map(|r| RouteSpec::parse(r).unwrap())
                .collect(),
            push_routes: vec![],
            root_routes: vec![],
            listen: None,
            first_port: None,
        }
    }

    fn main() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    #[test]
    fn builds_and_matches_per_printer_mounts() {
        let mut op = plan(
            0,
            "octoprint",
            "/octoprint/{printer}",
            true,
            &[
                "GET /api/job",
                "POST /api/job",
                "GET /api/files/{location}/{*path}",
            ],
        );
        op.first_port = Some(5000);
        let pm = plan(1, "pod", "/", false, &["GET /api/printers/"]);
        let listeners = build(main(), &[op, pm], &["p1".into(), "p2".into()]).unwrap();
        assert_eq!(listeners.len(), 3);
        let m = listeners[0]
            .table
            .find_http("/octoprint/p2/api/files/local/a%20b/c.gcode")
            .unwrap();
        assert_eq!(m.target.printer.as_deref(), Some("p2"));
        assert_eq!(m.target.mount, "/octoprint/p2");
        assert_eq!(
            m.params,
            vec![
                ("location".into(), "local".into()),
                ("path".into(), "a b/c.gcode".into())
            ]
        );
        let job = listeners[0]
            .table
            .find_http("/octoprint/p1/api/job")
            .unwrap();
        assert_eq!(job.target.route_for("POST"), Some("/api/job"));
        assert_eq!(job.target.allowed().to_header(), "GET, POST");
        let on_port = listeners[2].table.find_http("/api/job").unwrap();
        assert_eq!(
            (listeners[2].addr.port(), on_port.target.printer.as_deref()),
            (5001, Some("p2"))
        );
        assert!(listeners[0].table.find_http("/api/printers/").is_some());
    }

    #[test]
    fn refuses_conflicts_naming_both_plugins() {
        let a = plan(0, "alpha", "/", false, &["GET /api/{thing}"]);
        let b = plan(1, "beta", "/api", false, &["GET /version"]);
        let err = build(main(), &[a, b], &[]).unwrap_err().to_string();
        assert!(
            err.contains("alpha") && err.contains("beta") && err.contains("/api/version"),
            "{err}"
        );
        // Disjoint methods do not conflict.
        let a = plan(0, "alpha", "/", false, &["GET /api/{thing}"]);
        let b = plan(1, "beta", "/api", false, &["POST /version"]);
        assert!(build(main(), &[a, b], &[]).is_ok());
    }

    /// Root routes are served at the main listener's root whatever the mount (and on the
    /// plugin's own listener too), with an empty mount and the route as written; they conflict
    /// with other plugins' routes and the host's prefix as any route does.
    #[test]
    fn root_routes_are_served_at_the_root_and_conflict_like_any_route() {
        let root = |specs: &[&str]| -> Vec<RouteSpec> {
            specs.iter().map(|r| RouteSpec::parse(r).unwrap()).collect()
        };
        let mut obico = plan(0, "obico", "/obico", false, &["GET /api/printers"]);
        obico.root_routes = root(&["GET /plugin/obico/grab-discovery-secret"]);
        let listeners = build(main(), &[obico.clone()], &[]).unwrap();
        let m = listeners[0]
            .table
            .find_http("/plugin/obico/grab-discovery-secret")
            .unwrap();
        assert_eq!(m.target.mount, "");
        assert_eq!(m.target.printer, None);
        assert_eq!(
            m.target.route_for("GET"),
            Some("/plugin/obico/grab-discovery-secret")
        );
        assert!(listeners[0]
            .table
            .find_http("/obico/api/printers")
            .is_some());

        let port: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let mut own = obico.clone();
        own.listen = Some(port);
        let listeners = build(main(), &[own], &[]).unwrap();
        for listener in &listeners {
            assert!(
                listener
                    .table
                    .find_http("/plugin/obico/grab-discovery-secret")
                    .is_some(),
                "{}",
                listener.label
            );
        }
        assert!(
            listeners[0]
                .table
                .find_http("/obico/api/printers")
                .is_some(),
            "the path mount stays beside a listener of its own"
        );

        let other = plan(1, "other", "/", false, &["GET /plugin/{name}/{*rest}"]);
        let err = build(main(), &[obico.clone(), other], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("obico") && err.contains("other") && err.contains("grab-discovery-secret"),
            "{err}"
        );
        let mut greedy = obico;
        greedy.root_routes = root(&["GET /farm/api/x"]);
        assert!(build(main(), &[greedy], &[])
            .unwrap_err()
            .to_string()
            .contains("reserved"));
    }

    #[test]
    fn the_dashboard_page_and_its_assets_are_reserved() {
        for route in ["GET /", "GET /dashboard", "GET /dashboard/app.js"] {
            let greedy = plan(0, "greedy", "/", false, &[route]);
            let err = build(main(), &[greedy], &[]).unwrap_err().to_string();
            assert!(
                err.contains("reserved") && err.contains("greedy"),
                "{route}: {err}"
            );
        }
        let fine = plan(0, "fine", "/fine", false, &["GET /"]);
        assert!(build(main(), &[fine], &[]).is_ok());
    }

    #[test]
    fn refuses_reserved_prefix_and_double_addresses() {
        let a = plan(0, "greedy", "/", false, &["GET /{*everything}"]);
        assert!(build(main(), &[a], &[])
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        let mut a = plan(0, "a", "/a", false, &["GET /x"]);
        a.listen = Some(main());
        assert!(build(main(), &[a], &[])
            .unwrap_err()
            .to_string()
            .contains("claimed twice"));
    }
}
