'use strict';
'require view';
'require poll';
'require rpc';
'require ecmp-hotplug.words as words';

// Status -> ECMP uplinks: what `ecmp-hotplug status --json` says (through rpcd's plugin,
// `ubus call ecmp-hotplug status`), one table per group, refreshed by LuCI's poll loop.
// Every word comes from the document or from words.js, which renders them as the binary's
// `status` text does.

var callStatus = rpc.declare({
	object: 'ecmp-hotplug',
	method: 'status'
});

function groupTable(g) {
	var rows = words.members(g).map(function(m) {
		return E('tr', { 'class': 'tr', 'data-member': m.interface, 'data-state': m.state }, [
			E('td', { 'class': 'td' }, m.interface),
			E('td', { 'class': 'td' }, E('span', { 'class': 'label ' + words.css(m.state) }, words.stateName(m.state))),
			E('td', { 'class': 'td' }, m.why),
			E('td', { 'class': 'td' }, m.path),
			E('td', { 'class': 'td' }, m.weight),
			E('td', { 'class': 'td' }, m.tracking)
		]);
	});

	if (!rows.length)
		rows.push(E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td' }, _('No member and no candidate'))));

	return E('div', { 'class': 'cbi-section', 'data-group': g.name }, [
		E('h3', {}, words.groupTitle(g)),
		E('p', { 'class': 'ecmp-group-state', 'data-state': g.state }, words.groupState(g)),
		E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Interface')),
				E('th', { 'class': 'th' }, _('State')),
				E('th', { 'class': 'th' }, _('Why')),
				E('th', { 'class': 'th' }, _('Gateway and device')),
				E('th', { 'class': 'th' }, _('Weight and share')),
				E('th', { 'class': 'th' }, _('Tracking'))
			])
		].concat(rows))
	]);
}

function render(doc) {
	var failure = words.failure(doc);
	if (failure)
		return E('div', { 'class': 'alert-message error', 'id': 'ecmp-error' }, failure);

	if (!doc.groups.length)
		return E('p', { 'id': 'ecmp-empty' }, _('No group is configured.'));

	return E('div', {}, doc.groups.map(groupTable));
}

return view.extend({
	load: function() {
		return L.resolveDefault(callStatus(), null);
	},

	refresh: function() {
		return L.resolveDefault(callStatus(), null).then(function(doc) {
			var box = document.getElementById('ecmp-status');
			if (box)
				box.replaceChildren(render(doc));
		});
	},

	render: function(doc) {
		poll.add(L.bind(this.refresh, this));

		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('ECMP uplinks')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Each group is one kernel route over its members, as ecmp-hotplug keeps it; the same words as "ecmp-hotplug status".')),
			E('div', { 'id': 'ecmp-status' }, render(doc))
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
