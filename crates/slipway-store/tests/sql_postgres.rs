//! The SQL store on a real PostgreSQL server (`slipway-testpg`: one per test
//! binary, a database per test) against the conformance suite.

mod sql_conformance;

use sql_conformance::{Fixture, fixture};

async fn make() -> Fixture {
    let url = match slipway_testpg::fresh_database().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    };
    fixture(url, Box::new(())).await
}

sql_conformance_suite!(make);
