'use strict';
'require view';
'require form';
'require rpc';
'require uci';

// Network -> ECMP uplinks: /etc/config/ecmp-hotplug as form.Map, every option with the
// range the binary enforces (src/config/reader.rs). Save & Apply goes the router's way:
// rpcd's apply, procd's config trigger, the init script's reload (`ecmp-hotplug sync`).
// The binary has the last word on the file: what it refuses is shown at the top, with its
// file:line, from `ubus call ecmp-hotplug status`.

var callStatus = rpc.declare({
	object: 'ecmp-hotplug',
	method: 'status'
});

// Seconds, whole or to the millisecond, from `lo` to `hi`, as the binary reads its timers.
function seconds(lo, hi) {
	return function(section_id, value) {
		if (value == null || value === '')
			return true;
		if (!/^[0-9]+(\.[0-9]{1,3})?$/.test(value) || +value < lo || +value > hi)
			return _('a number of seconds from %s to %d, up to three decimals').format(lo, hi);
		return true;
	};
}

function table(section_id, value) {
	if (value == null || value === '' || value == 'main' || value == 'default')
		return true;
	if (/^[0-9]+$/.test(value) && +value >= 1 && +value <= 4294967295)
		return true;
	return _('main, default or a number from 1 to 4294967295');
}

function range(o, lo, hi) {
	o.datatype = 'range(%d,%d)'.format(lo, hi);
	o.rmempty = true;
	return o;
}

function interfaces() {
	return uci.sections('network', 'interface').map(function(s) { return s['.name']; })
		.filter(function(n) { return n != 'loopback'; });
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(callStatus(), null),
			uci.load('network'),
			uci.load('ecmp-hotplug')
		]);
	},

	render: function(data) {
		var m, s, o, failure = (data[0] && typeof data[0].error == 'string') ? data[0].error : null;

		m = new form.Map('ecmp-hotplug', _('ECMP uplinks'),
			_('One kernel ECMP route per group over the uplinks that are up and pass their probes. Option names are mwan3\'s where they mean the same (README, "Beside mwan3").'));

		s = m.section(form.NamedSection, 'globals', 'globals', _('Globals'));
		s.addremove = false;
		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.rmempty = false;
		o = s.option(form.ListValue, 'hash_policy', _('Hash policy'),
			_('l4 spreads the connections of one LAN host over the uplinks; keep leaves the sysctls alone'));
		o.value('l3');
		o.value('l4');
		o.value('keep');
		o.default = 'l4';
		o = s.option(form.ListValue, 'mode', _('Mode'));
		o.value('auto');
		o.value('resilient');
		o.value('multipath');
		o.default = 'auto';

		s = m.section(form.TypedSection, 'group', _('Groups'), _('Each group is one route.'));
		s.addremove = true;
		s.anonymous = false;
		s.tab('route', _('Route'));
		s.tab('track', _('Tracking'));

		o = s.taboption('route', form.Value, 'target', _('Target'));
		o.datatype = 'cidr';
		o.rmempty = false;
		o = s.taboption('route', form.ListValue, 'family', _('Family'));
		o.value('', _('the target\'s'));
		o.value('ipv6');
		o.value('ipv4');
		o = s.taboption('route', form.Value, 'table', _('Table'));
		o.placeholder = 'main';
		o.validate = table;
		o = range(s.taboption('route', form.Value, 'metric', _('Metric')), 0, 4294967295);
		o = s.taboption('route', form.DynamicList, 'proto', _('Protocols'),
			_('Members: up interfaces with one of these protos (dhcpv6, dhcp, pppoe, static) …'));
		o = s.taboption('route', form.MultiValue, 'interface', _('Interfaces'), _('… and/or with these names'));
		interfaces().forEach(function(n) { o.value(n); });
		o = s.taboption('route', form.ListValue, 'mode', _('Mode'));
		o.value('', _('the global one'));
		o.value('auto');
		o.value('resilient');
		o.value('multipath');
		range(s.taboption('route', form.Value, 'buckets', _('Buckets'), _('resilient mode: 128 by default')), 1, 65535);
		range(s.taboption('route', form.Value, 'idle_timer', _('Idle timer (s)')), 1, 86400);
		range(s.taboption('route', form.Value, 'unbalanced_timer', _('Unbalanced timer (s)')), 0, 86400);
		o = s.taboption('route', form.Flag, 'flush_conntrack', _('Delete a leaving member\'s NAT entries'));
		o.default = '1';

		o = s.taboption('track', form.DynamicList, 'track_ip', _('Targets (track_ip)'), _('None: no tracking'));
		o.datatype = 'ipaddr';
		o = s.taboption('track', form.ListValue, 'track_method', _('Method (track_method)'));
		o.value('ping');
		o.value('dns');
		o.value('tcp');
		o.default = 'ping';
		o = s.taboption('track', form.Value, 'track_port', _('Port (track_port)'), _('53 for dns, 443 for tcp'));
		o.datatype = 'port';
		o = s.taboption('track', form.Value, 'track_name', _('DNS name (track_name)'));
		o.placeholder = '.';
		o.depends('track_method', 'dns');
		range(s.taboption('track', form.Value, 'reliability', _('Targets that must answer (reliability)')), 1, 100);
		range(s.taboption('track', form.Value, 'count', _('Probes per target (count)')), 1, 100);
		o = s.taboption('track', form.Value, 'timeout', _('Timeout (s)'));
		o.placeholder = '0.4';
		o.validate = seconds(0.1, 60);
		o = s.taboption('track', form.Value, 'interval', _('Interval (s)'));
		o.placeholder = '1.2';
		o.validate = seconds(0.1, 3600);
		range(s.taboption('track', form.Value, 'down', _('Failed rounds to go offline (down)')), 1, 100);
		range(s.taboption('track', form.Value, 'up', _('Passed rounds to come back (up)')), 1, 100);
		o = s.taboption('track', form.Value, 'failure_interval', _('Failure interval (s)'));
		o.validate = seconds(0.1, 3600);
		o = s.taboption('track', form.Value, 'recovery_interval', _('Recovery interval (s)'));
		o.validate = seconds(0.1, 3600);
		s.taboption('track', form.Flag, 'check_quality', _('Check quality (check_quality)'));
		[ [ 'failure_latency', _('Failure latency (ms)'), 1, 60000 ],
		  [ 'recovery_latency', _('Recovery latency (ms)'), 1, 60000 ],
		  [ 'failure_loss', _('Failure loss (%)'), 0, 100 ],
		  [ 'recovery_loss', _('Recovery loss (%)'), 0, 100 ] ].forEach(function(q) {
			o = range(s.taboption('track', form.Value, q[0], q[1]), q[2], q[3]);
			o.depends('check_quality', '1');
		});

		s = m.section(form.TypedSection, 'member', _('Members'),
			_('Per interface, in every group it is in: its weight within its tier, its tier (metric: the lowest usable one carries the route), and whether it is probed.'));
		s.addremove = true;
		s.anonymous = true;
		o = s.option(form.ListValue, 'interface', _('Interface'));
		interfaces().forEach(function(n) { o.value(n); });
		o.rmempty = false;
		range(s.option(form.Value, 'weight', _('Weight')), 1, 256).placeholder = '1';
		range(s.option(form.Value, 'metric', _('Metric')), 1, 256).placeholder = '1';
		o = s.option(form.Flag, 'track', _('Probed'));
		o.default = '1';

		return m.render().then(function(node) {
			if (failure)
				node.insertBefore(E('div', { 'class': 'alert-message error', 'id': 'ecmp-error' }, [
					E('strong', {}, _('ecmp-hotplug refuses this configuration:')), ' ', failure
				]), node.firstChild);
			return node;
		});
	}
});
