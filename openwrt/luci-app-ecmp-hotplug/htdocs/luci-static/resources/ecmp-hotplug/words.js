'use strict';
'require baseclass';

// The words of `ecmp-hotplug status`, for the status page and the Overview widget, taken
// from its JSON document (`status --json`, version 7): a member's state is its leg in the
// route (`desired`), or the `kind` of why it is left out (`skipped`: standby, offline,
// down, left_out), with `held` and `fail_open` on top; the reason is the binary's own text.
// Nothing here invents a word the binary doesn't print, and a missing figure is left out,
// never shown as undefined or NaN.

var STATES = {
	'in': [ _('in the route'), 'success' ],
	'held': [ _('held'), 'warning' ],
	'fail_open': [ _('kept (fail open)'), 'warning' ],
	'standby': [ _('standby'), 'notice' ],
	'offline': [ _('offline'), 'danger' ],
	'down': [ _('down'), '' ],
	'left_out': [ _('left out'), 'warning' ]
};

// A session's length as `status` says it: 42 s, 12 min, 3h12m, 2d4h.
function span(s) {
	if (typeof s != 'number' || !isFinite(s) || s < 0)
		return null;
	s = Math.floor(s);
	if (s < 120) return '%d s'.format(s);
	if (s < 3600) return '%d min'.format(Math.floor(s / 60));
	if (s < 86400) return '%dh%02dm'.format(Math.floor(s / 3600), Math.floor(s % 3600 / 60));
	return '%dd%dh'.format(Math.floor(s / 86400), Math.floor(s % 86400 / 3600));
}

function number(n) {
	return typeof n == 'number' && isFinite(n);
}

// `2606:4700:4700::1111 11.9 ms, 1 of 40 lost`, as the text's tracking line.
function target(t) {
	var out = t.ip;
	if (number(t.rtt_us))
		out += ' %d.%d ms,'.format(Math.floor(t.rtt_us / 1000), Math.floor(t.rtt_us % 1000 / 100));
	if (number(t.sent) && number(t.received))
		out += ' %d of %d lost'.format(Math.max(t.sent - t.received, 0), t.sent);
	return out;
}

// `online for 3h12m; 2606:… 11.9 ms, 1 of 40 lost; …`: a tracked member's record.
function tracking(r) {
	if (!r)
		return '';
	var parts = [ r.state + (span(r.for_seconds) ? ' ' + _('for') + ' ' + span(r.for_seconds) : '') ];
	var recent = Array.isArray(r.recent) && r.recent.length ? r.recent : (r.targets || []);
	recent.forEach(function(t) { parts.push(target(t)); });
	return parts.join('; ');
}

return baseclass.extend({
	span: span,

	stateName: function(state) {
		return (STATES[state] || [ state ])[0];
	},

	css: function(state) {
		return (STATES[state] || [ '', '' ])[1];
	},

	// `v6: 2000::/3 table main metric 1024, resilient`
	groupTitle: function(g) {
		return '%s (%s): %s table %s metric %d, %s'.format(g.name, g.family, g.target,
			g.table_name, g.metric, g.mode);
	},

	groupState: function(g) {
		var word = { in_sync: _('in sync'), out_of_sync: _('out of sync'), conflict: _('conflict: a route not ours holds its key') }[g.state] || g.state;
		if (g.fail_open)
			word += '; ' + _('no member passes its probes (each is offline or failing): all are kept (fail open)');
		if (g.tracking === null)
			word += '; ' + _('watch is not running: every member counts as online');
		return word;
	},

	// The failure a document stands for, or null: the plugin's `{ "error": … }` (the
	// binary's own line, file:line for a refused config), or no document at all.
	failure: function(doc) {
		if (doc == null || typeof doc != 'object')
			return _('No answer from ubus call ecmp-hotplug status (is the package installed, and rpcd reloaded?)');
		if (typeof doc.error == 'string')
			return doc.error;
		if (!Array.isArray(doc.groups))
			return _('ecmp-hotplug status answered with no groups');
		return null;
	},

	// Every member and left-out candidate of group `g`, one object each:
	// { interface, state, why, path, weight, tracking }.
	members: function(g) {
		var held = g.held || [], records = {};
		(g.tracking || []).forEach(function(r) { records[r.interface] = r; });

		var out = (g.desired || []).map(function(l) {
			// As `status` says it: fail open (all kept) before held (kept for all failing).
			var state = g.fail_open ? 'fail_open' : (held.indexOf(l.interface) >= 0 ? 'held' : 'in');
			var weight = _('weight %d').format(l.weight);
			if (number(l.share_percent))
				weight += ', ' + _('%d%% of the group').format(l.share_percent);
			if (number(l.metric))
				weight += ', ' + _('metric %d').format(l.metric);
			var why = number(l.uptime) ? _('up %s').format(span(l.uptime)) : '';
			return {
				interface: l.interface || l.device,
				state: state,
				why: why,
				path: (l.gateway ? 'via ' + l.gateway + ' ' : '') + 'dev ' + l.device,
				weight: weight,
				tracking: tracking(records[l.interface])
			};
		});

		(g.skipped || []).forEach(function(s) {
			out.push({
				interface: s.interface,
				state: STATES[s.kind] ? s.kind : 'left_out',
				why: s.reason,
				path: '',
				weight: '',
				tracking: tracking(records[s.interface])
			});
		});

		return out;
	},

	// `v6: 3 of 4 uplinks`: the Overview line of a group.
	summary: function(g) {
		var all = this.members(g);
		var used = all.filter(function(m) { return m.state != 'standby' && m.state != 'offline' && m.state != 'down' && m.state != 'left_out'; });
		return _('%s: %d of %d uplinks').format(g.name, used.length, all.length);
	}
});
