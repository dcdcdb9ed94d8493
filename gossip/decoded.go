package gossip

import "github.com/plumview/plumview/plumtree"

// Envelopes decoded once a receipt. A payload received first is decoded
// to check its origin (payloadValid), again to deliver it (deliver), and
// a third time when its signature was checked in a batch (PrepareBatch):
// a tenth of the CPU of 64 nodes under the bench's sustained load went to
// decoding envelopes, most of it twice or three times over the same
// bytes. Each decode hands its envelope on to the next step of the same
// receipt, which takes it only for the same bytes (the same backing
// array and length, not merely equal content) under the same ID, so that
// a payload decoded for one message never stands for another.

// decodedEnvelope is an envelope decoded from a payload, kept for the
// next step of the same receipt.
type decodedEnvelope struct {
	id    plumtree.MessageID
	first *byte // the payload's first byte
	n     int   // the payload's length
	env   Envelope
}

// keep returns the envelope env decoded from payload, under id.
func keep(id plumtree.MessageID, payload []byte, env *Envelope) decodedEnvelope {
	if len(payload) == 0 {
		return decodedEnvelope{}
	}
	return decodedEnvelope{id: id, first: &payload[0], n: len(payload), env: *env}
}

// of reports whether d was decoded from payload itself under id.
func (d *decodedEnvelope) of(id plumtree.MessageID, payload []byte) bool {
	return d.first != nil && len(payload) == d.n && &payload[0] == d.first && d.id == id
}

// envelopeToCheck returns the envelope of a payload about to be checked:
// the one PrepareBatch decoded from it (batched is then true: its
// signatures were in that batch), if any, else decoded now.
func (e *Engine) envelopeToCheck(g *plumtree.Gossip) (env Envelope, batched bool, err error) {
	if ps := e.prepared; ps != nil {
		for i := range ps.envs {
			if ps.envs[i].of(g.ID, g.Payload) {
				env := ps.envs[i].env
				ps.envs[i] = decodedEnvelope{}
				return env, true, nil
			}
		}
	}
	env, err = DecodeEnvelope(g.Payload)
	return env, false, err
}

// keepChecked keeps the envelope of a payload that passed its check, for
// its delivery.
func (e *Engine) keepChecked(g *plumtree.Gossip, env *Envelope) {
	if e.checked != nil {
		*e.checked = keep(g.ID, g.Payload, env)
	}
}

// envelopeToDeliver returns the envelope of a payload being delivered: the
// one its check decoded, if any, else decoded now.
func (e *Engine) envelopeToDeliver(d *Delivery) (Envelope, error) {
	if c := e.checked; c != nil && c.first != nil {
		checked := *c
		*c = decodedEnvelope{}
		if checked.of(d.ID, d.Payload) {
			return checked.env, nil
		}
	}
	return DecodeEnvelope(d.Payload)
}
