"""One router per resource: answers, chat, articles, the OpenAI-compatible endpoint, health, and the pages."""
