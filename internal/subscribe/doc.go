// Package subscribe serves GraphQL subscriptions: it publishes committed changes to the
// pubsub Broker, follows them for each subscriber, and sets up the two transports that carry
// them: WebSocket (graphql-transport-ws, served here over gqlgen's executor, see wsTransport)
// and server-sent events (GraphQL over SSE, distinct connections mode, gqlgen's transport).
//
// What it adds to gqlgen:
//
//   - ChangeHook publishes an ids-only pubsub.Event for every storage.Change, inside the
//     writing transaction, so that nothing is delivered for a change that rolls back.
//   - A Hub tracks every live connection (Handler, the middleware in front of /graphql): it
//     checks the Origin of WebSocket handshakes, caps connections per user and subscriptions
//     per connection, enforces the protocol's close codes (4400, 4401, 4403,
//     4406, 4408, 4409, 4429), bounds every write in time, and on Shutdown completes every
//     subscription and closes every socket with a close frame.
//   - Document, Folder, Comments and SharedWithMe start the streams behind the resolvers;
//     Follow starts those of subscriptions this package does not know (the live audit tail).
//     A stream holds no transaction and no cached data between events. For every event that
//     concerns it, it checks the subscriber's session again (revoked, expired, user disabled,
//     memberships changed), loads the object again as the subscriber, and delivers it only if
//     the subscriber may view it at that moment. When the subscriber may no longer view what it
//     follows, the stream ends with one last response carrying the error, then completes.
//     A timer repeats the check for streams that receive no events.
//
// Final errors travel in the response that ends a stream: the stream sends a null value and
// the response hook (Hub.Scope, wired as api.Hooks.Scope) adds the error to that response.
package subscribe
