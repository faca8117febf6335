// Package httpx holds the HTTP edge of Laatu: the net/http middleware that wraps the whole
// mux (request identity, client IP, logging, panic recovery, body limits, cross-site request
// protection, security headers) and the health endpoints.
//
// Recommended order, outermost first, as passed to [Chain]:
//
//	SecurityHeaders(opts)  // every response carries them, even a 500 or a 403
//	Identify(proxies)      // RequestInfo + Annotations in the context, X-Request-ID echoed
//	AccessLog(logger)      // request logger in the context; one line per request at the end
//	Recover                // inside AccessLog: the logger carries request_id, the 500 is logged
//	CrossOrigin(origins)   // refuse cross-site unsafe requests before any work is done
//	MaxBytes(limit)        // bound request bodies
//
// and on the /graphql route only, [GraphQLMethodGuard] around the GraphQL handler.
// The health endpoints are ordinary handlers mounted on the mux.
//
// The GraphQL layer reports what it learns to the access log through the request's
// [Annotations] (AnnotationsFromContext(ctx).SetOperation, SetUserID), logs through
// zerolog.Ctx(ctx), which carries the request id, and reads the client IP, user agent and
// request id for audit events from [FromContext].
//
// Every wrapper of the http.ResponseWriter here keeps http.Flusher and http.Hijacker working
// (server-sent events and WebSocket need them) and implements Unwrap for
// http.ResponseController.
package httpx
