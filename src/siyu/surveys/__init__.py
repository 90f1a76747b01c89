"""Surveys (问卷) built in the console, answered in the member centre (reached from any channel's link); each
answer can be mapped to a profile attribute or a tag, with a snapshot of the member's traits kept with the
response; persona reports over segments."""
