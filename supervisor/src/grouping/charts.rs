//! A thread's per-process charts as they stand: `apps.*` with a dimension
//! per apps group shown so far, `cgroup_<name>.*` per monitored cgroup,
//! `services.*` with a dimension per systemd service.

use conf::ThreadSettings;
use workers::per_process::View;
use workers::Thread;

use super::Grouping;
use crate::charts::{Chart, Dim};
use crate::totals::{cgroup_key, group_key};

pub fn charts(thread: &Thread, settings: &ThreadSettings, grouping: &Grouping) -> Vec<Chart> {
    let Some(per) = thread.per_process_on(settings) else {
        return Vec::new();
    };
    let chart = |id: String, view: &View, dims: Vec<Dim>| {
        Chart::new(
            id,
            &view.look,
            view.look.family.to_owned(),
            settings.update_every,
            dims,
        )
    };
    let mut charts = Vec::new();
    let cgroups = grouping.cgroups();
    for def in per
        .charts
        .iter()
        .filter(|def| def.mode.drawn_in(settings.mode, false))
    {
        let dim = |view: &View, id: &str, name: &str, key: u64, hidden: bool| Dim {
            id: id.to_owned(),
            name: name.to_owned(),
            value: def.value(view),
            key,
            multiplier: def.multiplier,
            divisor: def.divisor,
            hidden,
        };
        if per.apps(settings) {
            let dims: Vec<Dim> = grouping
                .exposed()
                .map(|(index, group)| {
                    dim(&def.apps, &group.name, "", group_key(index), group.hidden)
                })
                .collect();
            if !dims.is_empty() {
                charts.push(chart(format!("apps.{}", def.apps.id), &def.apps, dims));
            }
        }
        if settings.cgroups {
            let (view, (dim_id, dim_name)) = &def.cgroup;
            for cgroup in cgroups.iter().filter(|c| c.service.is_none()) {
                charts.push(chart(
                    format!("cgroup_{}.{}", cgroup.chart_id, view.id),
                    view,
                    vec![dim(
                        view,
                        dim_id,
                        dim_name,
                        cgroup_key(cgroup.serial),
                        false,
                    )],
                ));
            }
            let services: Vec<Dim> = cgroups
                .iter()
                .filter_map(|c| {
                    let name = c.service.as_ref()?;
                    Some(dim(&def.services, name, "", cgroup_key(c.serial), false))
                })
                .collect();
            if !services.is_empty() {
                charts.push(chart(
                    format!("services.{}", def.services.id),
                    &def.services,
                    services,
                ));
            }
        }
    }
    charts
}
