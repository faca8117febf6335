package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/rs/zerolog"
	"github.com/uptrace/bun"
)

// DefaultChannel is the PostgreSQL notification channel used when none is configured.
const DefaultChannel = "laatu_events"

// Reconnect backoff of the listener. The minimum is short because every reconnection makes
// all subscribers reload; the maximum bounds how long Close waits while the database is down.
const (
	minReconnect = 200 * time.Millisecond
	maxReconnect = 10 * time.Second
)

// maxChannelLen is NAMEDATALEN-1: LISTEN silently truncates longer identifiers, after which
// it would no longer match the channel that pg_notify is given.
const maxChannelLen = 63

// NewPostgresPublisher returns a Publisher that sends events with pg_notify on channel
// (DefaultChannel when empty), inside the caller's transaction. Use it alone in processes
// that write but do not serve subscriptions; servers get it from NewPostgres.
func NewPostgresPublisher(channel string) (Publisher, error) {
	channel, err := channelName(channel)
	if err != nil {
		return nil, err
	}
	return pgPublisher{channel: channel}, nil
}

func channelName(channel string) (string, error) {
	if channel == "" {
		return DefaultChannel, nil
	}
	if len(channel) > maxChannelLen || strings.ContainsRune(channel, 0) {
		return "", fmt.Errorf("pubsub: invalid channel name %q", channel)
	}
	return channel, nil
}

type pgPublisher struct{ channel string }

// Publish runs pg_notify on tx. PostgreSQL delivers the notification when tx commits and
// drops it when tx rolls back; identical events in one transaction are delivered once.
func (p pgPublisher) Publish(ctx context.Context, tx bun.IDB, ev Event) error {
	if tx == nil {
		return errors.New("pubsub: publish without a transaction")
	}
	query, args, err := p.Statement(ev)
	if err != nil {
		return err
	}
	// NewRaw so that Bun formats the placeholders whatever driver sits beneath tx.
	if _, err := tx.NewRaw(query, args...).Exec(ctx); err != nil {
		return fmt.Errorf("pubsub: notify %s: %w", ev.Topic, err)
	}
	return nil
}

// Statement returns the pg_notify that Publish runs.
func (p pgPublisher) Statement(ev Event) (string, []any, error) {
	payload, err := ev.encode()
	if err != nil {
		return "", nil, err
	}
	return "SELECT pg_notify(?, ?)", []any{p.channel, payload}, nil
}

// NewPostgres returns a Broker fed by a lib/pq Listener on channel (DefaultChannel when
// empty), and the Publisher that notifies that channel. Create one per server instance: every
// instance on the database receives every event and routes it to its own subscriptions.
//
// It returns once the listener is connected and listening, or with an error when the first
// connection attempt fails or ctx ends. dsn opens the listener's own connection; setting
// application_name in it makes that connection easy to find in pg_stat_activity.
//
// When the listener reconnects after losing its connection, notifications sent meanwhile are
// lost, so every subscription receives an event of kind KindResync.
func NewPostgres(ctx context.Context, dsn, channel string, log zerolog.Logger) (*Broker, Publisher, error) {
	channel, err := channelName(channel)
	if err != nil {
		return nil, nil, err
	}
	b := newBroker(log)

	// The callback runs on the listener's goroutine, so it must not block.
	firstFailure := make(chan error, 1)
	onEvent := func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected:
			b.healthy.Store(true)
		case pq.ListenerEventReconnected:
			b.healthy.Store(true)
			b.log.Info().Str("channel", channel).Msg("listener reconnected")
		case pq.ListenerEventDisconnected:
			b.healthy.Store(false)
			b.log.Warn().Err(err).Str("channel", channel).Msg("listener disconnected")
		case pq.ListenerEventConnectionAttemptFailed:
			b.healthy.Store(false)
			select {
			case firstFailure <- err:
			default:
			}
			b.log.Warn().Err(err).Str("channel", channel).Msg("listener connection attempt failed")
		}
	}
	l := pq.NewListener(dsn, minReconnect, maxReconnect, onEvent)

	// Listen blocks until a connection exists, retrying forever; race it against the first
	// failure and ctx so that a wrong DSN fails the start instead of hanging it.
	listened := make(chan error, 1)
	go func() { listened <- l.Listen(channel) }()
	var listenDone bool
	select {
	case err = <-listened:
		listenDone = true
	case err = <-firstFailure:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = l.Close()
		if !listenDone {
			<-listened
		}
		drain(l)
		return nil, nil, fmt.Errorf("pubsub: listen on channel %s: %w", channel, err)
	}
	b.healthy.Store(true)

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.receive(l, channel)
	}()
	b.stop = func() {
		_ = l.Close()
		<-stopped
	}
	return b, pgPublisher{channel: channel}, nil
}

// receive dispatches notifications until the listener closes its channel. It must keep
// reading until then: the listener's goroutine would otherwise block on a full channel.
func (b *Broker) receive(l *pq.Listener, channel string) {
	for n := range l.NotificationChannel() {
		switch {
		case n == nil:
			// Sent by pq after a reconnection: whatever was notified meanwhile is lost.
			b.resyncAll()
		case n.Channel == channel:
			b.dispatchPayload(n.Extra)
		}
	}
}

// drain waits for a closed listener's goroutine to end.
func drain(l *pq.Listener) {
	for range l.NotificationChannel() {
	}
}
