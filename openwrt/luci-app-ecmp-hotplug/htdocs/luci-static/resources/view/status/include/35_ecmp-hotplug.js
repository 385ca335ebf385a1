'use strict';
'require baseclass';
'require rpc';
'require ecmp-hotplug.words as words';

// The Overview page's part: one line per group, "v6: 3 of 4 uplinks", or the failure.

var callStatus = rpc.declare({
	object: 'ecmp-hotplug',
	method: 'status'
});

return baseclass.extend({
	title: _('ECMP uplinks'),

	load: function() {
		return L.resolveDefault(callStatus(), null);
	},

	render: function(doc) {
		var failure = words.failure(doc);
		if (failure)
			return E('p', { 'class': 'alert-message warning', 'id': 'ecmp-widget' }, failure);

		return E('div', { 'id': 'ecmp-widget' }, doc.groups.map(function(g) {
			return E('div', { 'data-group': g.name }, [
				E('span', { 'class': 'label ' + (g.state == 'in_sync' ? 'success' : 'warning') }, words.summary(g))
			]);
		}));
	}
});
