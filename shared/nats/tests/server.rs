//! The nats-server harness itself: a server whose port another process holds fails at once
//! with the reason, instead of handing the test a client of the other server.

use nrt_nats::{NatsServer, ServerError, ServerOptions};

#[tokio::test]
async fn a_port_held_by_another_server_is_reported_not_borrowed() {
    let first = NatsServer::start().await;
    let second = NatsServer::start_with(ServerOptions {
        port: Some(first.port()),
        ..ServerOptions::default()
    })
    .await;
    match second {
        Err(ServerError::Exited { port, .. }) => assert_eq!(port, first.port()),
        Err(other) => panic!("expected Exited, got {other}"),
        Ok(_) => panic!("a second server claimed to run on the first one's port"),
    }
}

#[tokio::test]
async fn servers_started_together_each_get_their_own_port() {
    let servers = futures::future::join_all((0..4).map(|_| NatsServer::start())).await;
    let mut ports: Vec<u16> = servers.iter().map(NatsServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    for server in &servers {
        let client = server.client().await;
        assert_eq!(client.server_info().port, server.port());
    }
}
