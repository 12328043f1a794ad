// Client tools: calls the server's model makes to the page, answered with
// `threads.add_client_tool_output`. The playground has one, to show the round trip.

export const CLIENT_TOOLS = {
  get_browser_info: () => ({
    language: navigator.language,
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    local_time: new Date().toLocaleString(),
    screen: `${window.screen.width}×${window.screen.height}`,
  }),
};

// True for an item that is a client tool call still waiting for the page's answer.
export function isPendingToolCall(item) {
  return item?.type === "client_tool_call" && item.status === "pending";
}

// The result for a tool call: the tool's, or an error naming a tool the page does not have.
export function toolResult(call, tools = CLIENT_TOOLS) {
  // Own tools only: a call naming an inherited property (`toString`) is a tool the page does not have.
  const tool = Object.hasOwn(tools, call.name) ? tools[call.name] : undefined;
  return tool ? tool(call.arguments ?? {}) : { error: `the playground has no client tool named ${call.name}` };
}
