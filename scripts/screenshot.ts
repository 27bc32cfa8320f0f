// npm run screenshots [-- --out docs]
// Pictures of the five bundled workflows as n8n's editor shows them: brings up the demo's set-up (sandbox, n8n with
// the package, credentials, published workflows; workflow 4 on a 15-minute schedule that does not come round while the
// pictures are taken), logs in with headless Chromium from Debian's packages (`apt-get install -y chromium`) and
// captures each workflow's canvas over the DevTools protocol, then one picture of all five, then the node's panel as a
// new user sets it up, the App credential, and workflow 5's status page (on a desktop and a phone) over connections in
// each state. Writes docs/workflow-1-connect.png, docs/workflow-2-call-api.png, docs/workflow-3-refresh.png,
// docs/workflow-4-keep-alive.png, docs/workflow-5-status-page.png, docs/workflows.png, docs/node-panel.png,
// docs/app-credential.png, docs/status-page.png and docs/status-page-phone.png. Started by run.js on the Node 24
// runtime (a global WebSocket).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capture } from '../tools/chromium';
import { type Editor, openEditor } from '../tools/n8n/editor';
import { startStack } from '../tools/n8n/stack';
import { sleep } from '../tools/sleep';
import { connectInEveryState, openStatusPageBrowser } from '../tools/n8n/status-page';

const repo = path.resolve(__dirname, '..');

export async function main(args: string[]): Promise<number> {
	const outIndex = args.indexOf('--out');
	const outDir = path.resolve(repo, outIndex >= 0 ? args[outIndex + 1] : 'docs');
	fs.mkdirSync(outDir, { recursive: true });
	const log = (line: string) => console.log(`  ${line}`);

	if (!fs.existsSync(path.join(repo, 'dist')))
		spawnSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: 'inherit' });
	const userFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-shot-'));
	console.log('Bringing up the sandbox and n8n with the five workflows...');
	const stack = await startStack({ userFolder, expiresIn: 3600, log });
	const width = 1600;
	const height = 900;
	let editor: Editor | undefined;
	try {
		// some history, so the workflows have run once
		await stack.connect('pipedrive:acme');
		await stack.call('pipedrive:acme');
		await stack.refresh('pipedrive:acme');

		editor = await openEditor(stack, { width, height });
		const { page } = editor;

		const keepAlive = await stack.publishKeepAlive({
			notificationUrl: `${stack.sandbox.url}/alerts`,
			expiresWithinSeconds: 600,
			everySeconds: 900,
		});
		const shots: [{ id: string; name: string }, string][] = [
			[stack.workflows.connect, 'workflow-1-connect.png'],
			[stack.workflows.call, 'workflow-2-call-api.png'],
			[stack.workflows.refresh, 'workflow-3-refresh.png'],
			[await stack.client.getWorkflow(keepAlive), 'workflow-4-keep-alive.png'],
			[stack.workflows.status, 'workflow-5-status-page.png'],
		];
		const files = [];
		for (const [wf, fileName] of shots) {
			const expected = (await stack.client.getWorkflow(wf.id)).nodes.filter(
				(n) => n.type !== 'n8n-nodes-base.stickyNote',
			).length;
			await page.navigate(`${stack.n8n.url}/workflow/${wf.id}`);
			let rendered = 0;
			for (let i = 0; i < 100 && rendered < expected; i++) {
				await sleep(200);
				rendered = await page.evaluate<number>(
					`document.querySelectorAll('[data-test-id="canvas-node"]').length`,
				);
			}
			if (rendered < expected)
				throw new Error(`the editor showed ${rendered} of ${expected} nodes of "${wf.name}"`);
			// close anything that pops up over the canvas, then let the zoom-to-fit settle
			// n8n opens a "Production Checklist" popover over the canvas of a published workflow: Escape closes it
			await sleep(1500);
			for (const type of ['keyDown', 'keyUp']) {
				await page.send('Input.dispatchKeyEvent', {
					type,
					key: 'Escape',
					code: 'Escape',
					windowsVirtualKeyCode: 27,
				});
			}
			const popoverLeft = await page.evaluate<boolean>(
				`[...document.querySelectorAll('body *')].some((e) => e.children.length === 0 && e.textContent.trim() === 'Production Checklist' && e.getBoundingClientRect().width > 0)`,
			);
			if (popoverLeft) log('note: the Production Checklist popover is still open');
			await sleep(2000);
			const file = path.join(outDir, fileName);
			await capture(page, file);
			files.push(file);
			log(`${path.relative(repo, file)}: ${wf.name}`);
		}

		// the node as a new user sets it up: its credential slots, Storage, and a run of Get Valid Token
		const { app, store } = stack.credentialNames;
		await editor.addNodeToNewWorkflow('OAuth2 Token Manager', 'Get a valid access token');
		// a new node starts on the embedded store: Storage is left as it is, as a new user leaves it
		const shown = {
			operation: await editor.optionShown('operation'),
			storage: await editor.optionShown('storage'),
		};
		if (shown.operation !== 'Get Valid Token' || shown.storage !== 'Embedded (SQLite)')
			throw new Error(`the new node shows ${JSON.stringify(shown)}`);
		// n8n fills one credential slot of a new node (here the store, saved after the App): pick what is not filled
		for (const [slot, name] of [
			['OAuth App', app],
			['Embedded (SQLite) Token Storage', store],
		] as const) {
			if ((await editor.selectedCredential(slot)) === name) continue;
			await editor.credentialChoices(slot);
			await editor.pickCredential(name);
			const selected = await editor.selectedCredential(slot);
			if (selected !== name)
				throw new Error(`the slot "${slot}" shows "${selected}", not "${name}"`);
		}
		await editor.pickFromList('connectionId', 'acme', 'pipedrive:acme (active)');
		const { access_token: accessToken } = await editor.executeStep();
		await sleep(1000);
		// The picture shows where the token is, not the token: even a sandbox's has no place in the repository.
		await page.evaluate(`(() => {
			const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
			for (let node = walker.nextNode(); node; node = walker.nextNode()) {
				if (node.nodeValue.includes(${JSON.stringify(accessToken)})) node.nodeValue = node.nodeValue.replaceAll(${JSON.stringify(accessToken)}, '••••••••••••');
			}
		})()`);
		const panel = path.join(outDir, 'node-panel.png');
		await capture(page, panel);
		log(`${path.relative(repo, panel)}: the node's panel after Get Valid Token`);

		await page.navigate(`${stack.n8n.url}/home/credentials/${stack.credentials.app.id}`);
		await editor.waitFor(
			`!!document.querySelector('[data-test-id="credential-edit-dialog"]')`,
			'the App credential',
		);
		await sleep(2500); // its test runs when it opens
		const credential = path.join(outDir, 'app-credential.png');
		await capture(page, credential);
		log(`${path.relative(repo, credential)}: the OAuth2 Token Manager App credential`);

		// one picture of the five, stacked
		const imgs = files
			.map((f) => `<img src="data:image/png;base64,${fs.readFileSync(f).toString('base64')}">`)
			.join('');
		const html = `<!doctype html><html><body style="margin:0;background:#fff">${imgs}<style>img{display:block;width:${width}px;border-bottom:6px solid #e0e0e0}</style></body></html>`;
		const htmlFile = path.join(userFolder, 'all.html');
		fs.writeFileSync(htmlFile, html);
		await page.send('Emulation.setDeviceMetricsOverride', {
			width,
			height: files.length * (height + 6),
			deviceScaleFactor: 1,
			mobile: false,
		});
		await page.navigate(`file://${htmlFile}`);
		await sleep(500);
		const all = path.join(outDir, 'workflows.png');
		await capture(page, all);
		log(`${path.relative(repo, all)}: the five workflows`);

		// the status page over a connection in each state, as a desktop and a phone show it
		await connectInEveryState(stack, {
			active: 'pipedrive:globex',
			expiring: 'pipedrive:hooli',
			failing: 'pipedrive:initech',
			needsReauth: 'pipedrive:umbrella',
			revoked: 'pipedrive:vandelay',
		});
		const statusBrowser = await openStatusPageBrowser(stack, { width: 1280, height: 800 });
		try {
			for (const [fileName, width, mobile] of [
				['status-page.png', 1280, false],
				['status-page-phone.png', 390, true],
			] as const) {
				const metrics = { width, height: 800, deviceScaleFactor: 1, mobile };
				await statusBrowser.page.send('Emulation.setDeviceMetricsOverride', metrics);
				await statusBrowser.page.navigate(stack.statusPageUrl);
				// the whole page in one picture
				const height = await statusBrowser.page.evaluate<number>(
					'document.documentElement.scrollHeight',
				);
				await statusBrowser.page.send('Emulation.setDeviceMetricsOverride', { ...metrics, height });
				await sleep(500);
				const file = path.join(outDir, fileName);
				await capture(statusBrowser.page, file);
				log(`${path.relative(repo, file)}: workflow 5's status page, ${width} px wide`);
			}
		} finally {
			await statusBrowser.close();
		}
	} catch (err) {
		if (editor) {
			const picture = path.join(os.tmpdir(), `oauth2tm-screenshot-failure-${process.pid}.png`);
			await editor.screenshot(picture).catch(() => undefined);
			console.error(`the editor at the failure: ${picture}`);
		}
		throw err;
	} finally {
		if (editor) await editor.close();
		await stack.stop();
		fs.rmSync(userFolder, { recursive: true, force: true });
	}
	return 0;
}
