// What the page shows, from the web component's `ChatKitOptions` (names included) that the server
// writes into the page's `chatkit-options` script.

// The options script's JSON; a broken one counts as no options at all.
export function parseOptions(text) {
  try {
    return JSON.parse(text || "{}") ?? {};
  } catch {
    return {};
  }
}

// The page's settings from the options. The playground is a tool for trying servers out: unlike the
// component it shows everything by default.
export function pageSettings(options) {
  return {
    greeting: options.startScreen?.greeting ?? "What can I help with today?",
    prompts: options.startScreen?.prompts ?? [],
    placeholder: options.composer?.placeholder ?? "Message the AI",
    attachments: options.composer?.attachments?.enabled ?? true,
    // Sent with each message as `inference_options` (`model`, `tool_choice`).
    models: options.composer?.models ?? [],
    tools: options.composer?.tools ?? [],
    itemActions: {
      feedback: options.threadItemActions?.feedback ?? true,
      retry: options.threadItemActions?.retry ?? true,
    },
    autoScroll: options.thread?.autoScroll ?? true,
    disclaimer: options.disclaimer ?? null,
    colorScheme: typeof options.theme === "string" ? options.theme : options.theme?.colorScheme ?? null,
    header: {
      enabled: options.header?.enabled ?? true,
      title: options.header?.title?.enabled ?? true,
      // A fixed title instead of the open thread's.
      titleText: options.header?.title?.text ?? null,
    },
    history: {
      enabled: options.history?.enabled ?? true,
      showDelete: options.history?.showDelete ?? true,
      showRename: options.history?.showRename ?? true,
    },
  };
}
