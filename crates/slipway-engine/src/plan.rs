//! Planning: a validated pipeline becomes a DAG of job instances.
//!
//! A job with a `matrix` becomes one instance per combination; `needs: [x]`
//! waits for every instance of `x`. The plan is pure data: indexes into
//! `Pipeline::jobs` and into the plan itself, so the scheduler can work with
//! integers and the store can record them.

use slipway_spec::model::Pipeline;

/// One job instance: a job, or one combination of a matrix job.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedJob {
    /// Display key and identity: `build`, or `test (linux, 1.80)`.
    pub key: String,
    /// Index of the job in `Pipeline::jobs`.
    pub spec: usize,
    /// The matrix combination, empty for a plain job.
    pub matrix: Vec<(String, serde_json::Value)>,
    /// Plan indexes of the instances this one waits for, sorted.
    pub needs: Vec<usize>,
    /// Plan indexes of the instances waiting for this one, sorted.
    pub dependents: Vec<usize>,
}

/// The DAG of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub jobs: Vec<PlannedJob>,
}

impl Plan {
    /// Expands matrices and resolves `needs`. The pipeline was validated,
    /// so every `needs` names a job and there is no cycle.
    pub fn new(pipeline: &Pipeline) -> Plan {
        let mut jobs = Vec::new();
        // Plan indexes of each spec job's instances.
        let mut instances: Vec<Vec<usize>> = Vec::with_capacity(pipeline.jobs.len());
        for (spec, job) in pipeline.jobs.iter().enumerate() {
            let combos = match &job.matrix {
                Some(matrix) => matrix.expand(),
                None => vec![Vec::new()],
            };
            let mut mine = Vec::with_capacity(combos.len());
            for matrix in combos {
                let key = instance_key(&job.id, &matrix);
                mine.push(jobs.len());
                jobs.push(PlannedJob {
                    key,
                    spec,
                    matrix,
                    needs: Vec::new(),
                    dependents: Vec::new(),
                });
            }
            instances.push(mine);
        }
        dedupe_keys(&mut jobs);
        for index in 0..jobs.len() {
            let spec = &pipeline.jobs[jobs[index].spec];
            let mut needs: Vec<usize> = spec
                .needs
                .iter()
                .filter_map(|need| pipeline.jobs.iter().position(|j| j.id == need.job))
                .flat_map(|needed| instances[needed].iter().copied())
                .collect();
            needs.sort_unstable();
            needs.dedup();
            for &need in &needs {
                jobs[need].dependents.push(index);
            }
            jobs[index].needs = needs;
        }
        Plan { jobs }
    }

    /// Keeps only `selected` jobs (by id or instance key) and everything they
    /// need, transitively. Returns the names that matched nothing.
    pub fn select(&mut self, pipeline: &Pipeline, selected: &[String]) -> Vec<String> {
        if selected.is_empty() {
            return Vec::new();
        }
        let mut keep = vec![false; self.jobs.len()];
        let mut stack = Vec::new();
        let mut unknown = Vec::new();
        for name in selected {
            let before = stack.len();
            for (index, job) in self.jobs.iter().enumerate() {
                if job.key == *name || pipeline.jobs[job.spec].id == *name {
                    stack.push(index);
                }
            }
            if stack.len() == before {
                unknown.push(name.clone());
            }
        }
        while let Some(index) = stack.pop() {
            if !keep[index] {
                keep[index] = true;
                stack.extend(self.jobs[index].needs.iter().copied());
            }
        }
        let mut new_index = vec![usize::MAX; self.jobs.len()];
        let mut jobs = Vec::new();
        for (old, job) in std::mem::take(&mut self.jobs).into_iter().enumerate() {
            if keep[old] {
                new_index[old] = jobs.len();
                jobs.push(job);
            }
        }
        for job in &mut jobs {
            job.needs = job.needs.iter().map(|&n| new_index[n]).collect();
            job.dependents = job
                .dependents
                .iter()
                .filter(|&&d| keep[d])
                .map(|&d| new_index[d])
                .collect();
        }
        self.jobs = jobs;
        unknown
    }
}

/// `test (linux, 1.80)` as GitHub Actions names matrix instances.
fn instance_key(id: &str, matrix: &[(String, serde_json::Value)]) -> String {
    if matrix.is_empty() {
        return id.to_string();
    }
    let mut key = String::with_capacity(id.len() + 16);
    key.push_str(id);
    key.push_str(" (");
    for (i, (_, value)) in matrix.iter().enumerate() {
        if i > 0 {
            key.push_str(", ");
        }
        match value {
            serde_json::Value::String(s) => key.push_str(s),
            other => key.push_str(&other.to_string()),
        }
    }
    key.push(')');
    key
}

/// Two combinations may render alike (`include` of an existing one with
/// other extra keys); keys must be unique, so later ones get `#2`, `#3`.
fn dedupe_keys(jobs: &mut [PlannedJob]) {
    let mut seen = std::collections::HashMap::<String, u32>::new();
    for job in jobs.iter_mut() {
        let count = seen.entry(job.key.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            job.key = format!("{} #{}", job.key, count);
        }
    }
}
